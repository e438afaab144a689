#include "errors.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>

namespace splitwatt {

namespace {

struct ErrnoEntry {
  int err;
  const char* name;
};

// Ordered as in <asm-generic/errno*.h>; ENOTSUP == EOPNOTSUPP on Linux (95).
constexpr ErrnoEntry kErrnoTable[] = {
    {EPERM, "EPERM"},         {ENOENT, "ENOENT"},       {ESRCH, "ESRCH"},
    {EINTR, "EINTR"},         {EIO, "EIO"},             {ENXIO, "ENXIO"},
    {E2BIG, "E2BIG"},         {ENOEXEC, "ENOEXEC"},     {EBADF, "EBADF"},
    {ECHILD, "ECHILD"},       {EAGAIN, "EAGAIN"},       {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},       {EFAULT, "EFAULT"},       {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"},       {EXDEV, "EXDEV"},         {ENODEV, "ENODEV"},
    {ENOTDIR, "ENOTDIR"},     {EISDIR, "EISDIR"},       {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"},       {EMFILE, "EMFILE"},       {ENOTTY, "ENOTTY"},
    {EFBIG, "EFBIG"},         {ENOSPC, "ENOSPC"},       {ESPIPE, "ESPIPE"},
    {EROFS, "EROFS"},         {EMLINK, "EMLINK"},       {EPIPE, "EPIPE"},
    {ERANGE, "ERANGE"},       {ENAMETOOLONG, "ENAMETOOLONG"},
    {ENOSYS, "ENOSYS"},       {ENOTEMPTY, "ENOTEMPTY"}, {ELOOP, "ELOOP"},
    {ENODATA, "ENODATA"},     {EOVERFLOW, "EOVERFLOW"}, {ENOTSUP, "ENOTSUP"},
    {ETIMEDOUT, "ETIMEDOUT"}, {ECANCELED, "ECANCELED"},
};

// strerror_r has two signatures (GNU returns char*, XSI returns int); accept either.
[[maybe_unused]] const char* PickStrerror(int rc, const char* buf) { return rc == 0 ? buf : nullptr; }
[[maybe_unused]] const char* PickStrerror(const char* rc, const char*) { return rc; }

}  // namespace

std::string ErrnoName(int err) {
  for (const auto& e : kErrnoTable) {
    if (e.err == err) return e.name;
  }
  return "E" + std::to_string(err);
}

std::string ErrnoDescription(int err) {
  char buf[256];
  buf[0] = '\0';
  const char* text = PickStrerror(strerror_r(err, buf, sizeof buf), buf);
  std::string out = (text != nullptr && text[0] != '\0') ? text : ("unknown error " + std::to_string(err));
  if (!out.empty()) out[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[0])));
  return out;
}

std::string IoFailure::Message() const {
  if (!message.empty()) return message;
  std::string out = Code() + ": " + ErrnoDescription(err);
  if (!syscall.empty()) out += ", " + syscall;
  if (!path.empty()) out += " '" + path + "'";
  return out;
}

Napi::Error MakeIoError(Napi::Env env, const IoFailure& failure) {
  Napi::Error error = Napi::Error::New(env, failure.Message());
  Napi::Object obj = error.Value();
  obj.Set("errno", Napi::Number::New(env, failure.err));
  obj.Set("code", Napi::String::New(env, failure.Code()));
  obj.Set("syscall", Napi::String::New(env, failure.syscall));
  obj.Set("path", Napi::String::New(env, failure.path));
  if (failure.nvmlReturn != 0) obj.Set("nvmlReturn", Napi::Number::New(env, failure.nvmlReturn));
  return error;
}

Napi::Error MakeIoError(Napi::Env env, int err, const std::string& syscall, const std::string& path) {
  return MakeIoError(env, IoFailure::Errno(err, syscall, path));
}

void ThrowTypeError(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

void ThrowRangeError(Napi::Env env, const std::string& message) {
  throw Napi::RangeError::New(env, message);
}

std::string ArgString(const Napi::CallbackInfo& info, size_t index, const std::string& what) {
  if (info.Length() <= index || !info[index].IsString()) ThrowTypeError(info.Env(), what + " must be a string");
  return info[index].As<Napi::String>().Utf8Value();
}

int64_t ValueInteger(Napi::Env env, Napi::Value value, const std::string& what, int64_t min, int64_t max) {
  if (!value.IsNumber()) ThrowTypeError(env, what + " must be a number");
  double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) ThrowTypeError(env, what + " must be an integer");
  if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
    ThrowRangeError(env, what + " must be in " + std::to_string(min) + ".." + std::to_string(max));
  }
  return static_cast<int64_t>(d);
}

int64_t ArgInteger(const Napi::CallbackInfo& info, size_t index, const std::string& what, int64_t min, int64_t max) {
  return ValueInteger(info.Env(), info.Length() > index ? info[index] : info.Env().Undefined(), what, min, max);
}

uint64_t ValueBigUint64(Napi::Env env, Napi::Value value, const std::string& what) {
  if (!value.IsBigInt()) ThrowTypeError(env, what + " must be a BigInt");
  bool lossless = false;
  uint64_t v = value.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) ThrowRangeError(env, what + " must be in 0n..2n**64n-1n");
  return v;
}

}  // namespace splitwatt
