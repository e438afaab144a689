// Nvml: NVML loaded through dlopen, for discovery and one-off reads on the JS thread.
#pragma once

#include <napi.h>

#include <memory>

#include "errors.h"
#include "nvml_lib.h"

namespace splitwatt {

class Nvml : public Napi::ObjectWrap<Nvml> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Nvml(const Napi::CallbackInfo& info);

 private:
  Napi::Value DeviceCount(const Napi::CallbackInfo& info);
  Napi::Value DeviceName(const Napi::CallbackInfo& info);
  Napi::Value TotalEnergyMJ(const Napi::CallbackInfo& info);
  Napi::Value PowerMW(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);

  /** Throws (EBADF) when closed; else the device handle for info[0]. */
  nvmlDevice_t Device(const Napi::CallbackInfo& info, const char* method);
  void RequireOpen(Napi::Env env, const char* method) const;

  NvmlLib lib_;
};

}  // namespace splitwatt
