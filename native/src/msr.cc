#include "io_util.h"  // first: sets _FILE_OFFSET_BITS before any libc header

#include "msr.h"

#include <cstdio>
#include <cstring>

namespace splitwatt {

int PreadMsr(int fd, uint32_t reg, uint64_t* value) {
  unsigned char buf[8];
  const ssize_t n = PreadRetry(fd, buf, sizeof buf, static_cast<off_t>(reg));
  if (n < 0) return errno;
  if (n != static_cast<ssize_t>(sizeof buf)) return EIO;  // past EOF of a fake file, like an invalid MSR
  uint64_t v;
  std::memcpy(&v, buf, sizeof v);  // the msr driver returns the register in host (little-endian) order
  *value = v;
  return 0;
}

Napi::Function Msr::Define(Napi::Env env) {
  return DefineClass(env, "Msr", {InstanceMethod<&Msr::Read>("read")});
}

Msr::Msr(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Msr>(info) {}

Napi::Value Msr::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const std::string path = ArgString(info, 0, "Msr.read: devicePath");
    const auto reg = static_cast<uint32_t>(ArgInteger(info, 1, "Msr.read: register", 0, UINT32_MAX));
    UniqueFd fd(OpenRetry(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) throw MakeIoError(env, errno, "open", path);
    uint64_t value = 0;
    const int err = PreadMsr(fd.get(), reg, &value);
    if (err != 0) {
      char where[32];
      std::snprintf(where, sizeof where, "@0x%x", reg);
      throw MakeIoError(env, err, "pread", path + where);
    }
    return Napi::BigInt::New(env, value);
  });
}

}  // namespace splitwatt
