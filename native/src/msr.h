// Msr: one-off 64-bit MSR reads from a msr device file (/dev/cpu/N/msr or a fake sparse file).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "errors.h"

namespace splitwatt {

/** pread 8 bytes at offset `reg` from an open msr fd. Returns 0 or an errno (EIO on a short read). */
int PreadMsr(int fd, uint32_t reg, uint64_t* value);

class Msr : public Napi::ObjectWrap<Msr> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Msr(const Napi::CallbackInfo& info);

 private:
  Napi::Value Read(const Napi::CallbackInfo& info);
};

}  // namespace splitwatt
