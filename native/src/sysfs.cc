#include "io_util.h"  // first: sets _FILE_OFFSET_BITS before any libc header

#include "sysfs.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <vector>

namespace splitwatt {

namespace {

constexpr size_t kMaxRead = 64 * 1024;

struct ReadOne {
  bool ok = false;
  std::string text;
  IoFailure failure;
};

struct Entry {
  std::string name;
  const char* type;
};

const char* TypeFromMode(mode_t mode) {
  if (S_ISREG(mode)) return "file";
  if (S_ISDIR(mode)) return "dir";
  if (S_ISLNK(mode)) return "link";
  return "other";
}

bool ListDir(const std::string& dir, std::vector<Entry>* out, IoFailure* failure) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    *failure = IoFailure::Errno(errno, "opendir", dir);
    return false;
  }
  const int dfd = ::dirfd(d);
  for (;;) {
    errno = 0;
    struct dirent* ent = ::readdir(d);
    if (ent == nullptr) {
      if (errno != 0) {
        *failure = IoFailure::Errno(errno, "readdir", dir);
        ::closedir(d);
        return false;
      }
      break;
    }
    const char* name = ent->d_name;
    if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
    const char* type = "other";
    switch (ent->d_type) {
      case DT_REG: type = "file"; break;
      case DT_DIR: type = "dir"; break;
      case DT_LNK: type = "link"; break;
      case DT_UNKNOWN: {
        struct stat st;
        if (::fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) type = TypeFromMode(st.st_mode);
        break;
      }
      default: break;
    }
    out->push_back(Entry{name, type});
  }
  ::closedir(d);
  std::sort(out->begin(), out->end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return true;
}

// ---- async workers -------------------------------------------------------------------------

class ReadManyWorker : public PromiseWorker {
 public:
  ReadManyWorker(Napi::Env env, std::vector<std::string> paths)
      : PromiseWorker(env, "splitwatt:Sysfs.readMany"), paths_(std::move(paths)) {}

 protected:
  void Execute() override {
    results_.resize(paths_.size());
    for (size_t i = 0; i < paths_.size(); ++i) {
      results_[i].ok = ReadSmallFile(paths_[i], &results_[i].text, &results_[i].failure);
    }
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array arr = Napi::Array::New(env, results_.size());
    for (size_t i = 0; i < results_.size(); ++i) {
      const ReadOne& r = results_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("ok", Napi::Boolean::New(env, r.ok));
      if (r.ok) {
        o.Set("text", Napi::String::New(env, r.text));
      } else {
        o.Set("errno", Napi::Number::New(env, r.failure.err));
        o.Set("code", Napi::String::New(env, r.failure.Code()));
        o.Set("syscall", Napi::String::New(env, r.failure.syscall));
      }
      arr.Set(static_cast<uint32_t>(i), o);
    }
    return arr;
  }

 private:
  std::vector<std::string> paths_;
  std::vector<ReadOne> results_;
};

class WriteWorker : public PromiseWorker {
 public:
  WriteWorker(Napi::Env env, std::string path, std::string text)
      : PromiseWorker(env, "splitwatt:Sysfs.write"), path_(std::move(path)), text_(std::move(text)) {}

 protected:
  void Execute() override {
    IoFailure failure;
    if (!WriteSmallFile(path_, text_, &failure)) Fail(std::move(failure));
  }

 private:
  std::string path_;
  std::string text_;
};

class ListWorker : public PromiseWorker {
 public:
  ListWorker(Napi::Env env, std::string dir) : PromiseWorker(env, "splitwatt:Sysfs.list"), dir_(std::move(dir)) {}

 protected:
  void Execute() override {
    IoFailure failure;
    if (!ListDir(dir_, &entries_, &failure)) Fail(std::move(failure));
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array arr = Napi::Array::New(env, entries_.size());
    for (size_t i = 0; i < entries_.size(); ++i) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", Napi::String::New(env, entries_[i].name));
      o.Set("type", Napi::String::New(env, entries_[i].type));
      arr.Set(static_cast<uint32_t>(i), o);
    }
    return arr;
  }

 private:
  std::string dir_;
  std::vector<Entry> entries_;
};

}  // namespace

bool ReadSmallFile(const std::string& path, std::string* text, IoFailure* failure) {
  UniqueFd fd(OpenRetry(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    *failure = IoFailure::Errno(errno, "open", path);
    return false;
  }
  text->clear();
  char buf[4096];
  while (text->size() < kMaxRead) {
    const size_t want = std::min(sizeof buf, kMaxRead - text->size());
    const ssize_t n = ReadRetry(fd.get(), buf, want);
    if (n < 0) {
      *failure = IoFailure::Errno(errno, "read", path);
      return false;
    }
    if (n == 0) break;
    text->append(buf, static_cast<size_t>(n));
  }
  return true;
}

bool WriteSmallFile(const std::string& path, const std::string& text, IoFailure* failure) {
  UniqueFd fd(OpenRetry(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) {
    *failure = IoFailure::Errno(errno, "open", path);
    return false;
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    *failure = IoFailure::Errno(errno, "fstat", path);
    return false;
  }
  ssize_t n;
  do {
    n = ::write(fd.get(), text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    *failure = IoFailure::Errno(errno, "write", path);
    return false;
  }
  if (static_cast<size_t>(n) != text.size()) {
    *failure = IoFailure::Errno(EIO, "write", path);  // short write: the value was not taken whole
    return false;
  }
  if (S_ISREG(st.st_mode) && ::ftruncate(fd.get(), static_cast<off_t>(n)) != 0) {
    *failure = IoFailure::Errno(errno, "ftruncate", path);
    return false;
  }
  // close(2) can report a deferred write error (NFS, FUSE); report it, never retry it.
  if (::close(fd.Release()) != 0 && errno != EINTR) {
    *failure = IoFailure::Errno(errno, "close", path);
    return false;
  }
  return true;
}

Napi::Function Sysfs::Define(Napi::Env env) {
  return DefineClass(env, "Sysfs",
                     {
                         InstanceMethod<&Sysfs::ReadMany>("readMany"),
                         InstanceMethod<&Sysfs::ReadSync>("readSync"),
                         InstanceMethod<&Sysfs::Write>("write"),
                         InstanceMethod<&Sysfs::WriteSync>("writeSync"),
                         InstanceMethod<&Sysfs::List>("list"),
                         InstanceMethod<&Sysfs::RealpathSync>("realpathSync"),
                         InstanceMethod<&Sysfs::Access>("access"),
                     });
}

Sysfs::Sysfs(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Sysfs>(info) {}

Napi::Value Sysfs::ReadMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsArray()) ThrowTypeError(env, "Sysfs.readMany: paths must be an array of strings");
    Napi::Array arr = info[0].As<Napi::Array>();
    std::vector<std::string> paths;
    paths.reserve(arr.Length());
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value v = arr.Get(i);
      if (!v.IsString()) ThrowTypeError(env, "Sysfs.readMany: paths[" + std::to_string(i) + "] must be a string");
      paths.push_back(v.As<Napi::String>().Utf8Value());
    }
    auto* worker = new ReadManyWorker(env, std::move(paths));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

Napi::Value Sysfs::ReadSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const std::string path = ArgString(info, 0, "Sysfs.readSync: path");
    std::string text;
    IoFailure failure;
    if (!ReadSmallFile(path, &text, &failure)) throw MakeIoError(env, failure);
    return Napi::String::New(env, text);
  });
}

Napi::Value Sysfs::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    std::string path = ArgString(info, 0, "Sysfs.write: path");
    std::string text = ArgString(info, 1, "Sysfs.write: text");
    auto* worker = new WriteWorker(env, std::move(path), std::move(text));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

void Sysfs::WriteSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Guard(env, [&]() {
    const std::string path = ArgString(info, 0, "Sysfs.writeSync: path");
    const std::string text = ArgString(info, 1, "Sysfs.writeSync: text");
    IoFailure failure;
    if (!WriteSmallFile(path, text, &failure)) throw MakeIoError(env, failure);
  });
}

Napi::Value Sysfs::List(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    std::string dir = ArgString(info, 0, "Sysfs.list: dir");
    auto* worker = new ListWorker(env, std::move(dir));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

Napi::Value Sysfs::RealpathSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const std::string path = ArgString(info, 0, "Sysfs.realpathSync: path");
    char* resolved = ::realpath(path.c_str(), nullptr);
    if (resolved == nullptr) throw MakeIoError(env, errno, "realpath", path);
    std::string out(resolved);
    std::free(resolved);
    return Napi::String::New(env, out);
  });
}

Napi::Value Sysfs::Access(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const std::string path = ArgString(info, 0, "Sysfs.access: path");
    const std::string mode = ArgString(info, 1, "Sysfs.access: mode");
    int amode;
    if (mode == "r") amode = R_OK;
    else if (mode == "w") amode = W_OK;
    else if (mode == "rw") amode = R_OK | W_OK;
    else if (mode == "x") amode = X_OK;
    else if (mode == "f") amode = F_OK;
    else ThrowTypeError(env, "Sysfs.access: mode must be one of \"r\", \"w\", \"rw\", \"x\", \"f\"");
    const int rc = ::access(path.c_str(), amode);
    return Napi::Number::New(env, rc == 0 ? 0 : errno);
  });
}

}  // namespace splitwatt
