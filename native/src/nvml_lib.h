// NvmlLib: a dlopen'd NVML with the few entry points splitwatt uses. Plain C++ (no N-API), so
// both the Nvml class (JS thread) and the sampler thread can own one. Not thread-safe by itself:
// each owner serialises its own calls.
#pragma once

#include <cerrno>
#include <cstdint>
#include <string>

#include "errors.h"

namespace splitwatt {

// The few NVML declarations we need (nvml.h is not required to build).
using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
constexpr nvmlReturn_t kNvmlSuccess = 0;
constexpr nvmlReturn_t kNvmlErrorNotSupported = 3;
constexpr unsigned kNvmlDeviceNameBufferSize = 96;  // NVML_DEVICE_NAME_V2_BUFFER_SIZE

class NvmlLib {
 public:
  NvmlLib() = default;
  NvmlLib(const NvmlLib&) = delete;
  NvmlLib& operator=(const NvmlLib&) = delete;
  ~NvmlLib() { Close(); }

  /**
   * dlopen(RTLD_NOW|RTLD_LOCAL) + dlsym + nvmlInit_v2. On failure fills `failure`:
   * code ENOENT / syscall "dlopen" when the library cannot be loaded, code "ENVML" otherwise.
   */
  bool Open(const std::string& libPath, IoFailure* failure);
  /** nvmlShutdown (when initialised) and dlclose. Idempotent. */
  void Close();
  bool IsOpen() const { return handle_ != nullptr; }
  const std::string& Path() const { return path_; }

  /** NVML-error failure (code "ENVML", errno EIO, nvmlReturn = rc) for `call`. */
  IoFailure NvmlFailure(nvmlReturn_t rc, const std::string& call) const;
  std::string ErrorString(nvmlReturn_t rc) const;

  bool DeviceCount(unsigned* count, IoFailure* failure) const;
  bool DeviceHandle(unsigned index, nvmlDevice_t* device, IoFailure* failure) const;
  bool DeviceName(nvmlDevice_t device, std::string* name, IoFailure* failure) const;

  /** Raw calls for the sampler: return the nvmlReturn_t (kNvmlErrorNotSupported when the symbol is absent). */
  nvmlReturn_t TotalEnergyMJ(nvmlDevice_t device, unsigned long long* mj) const;
  nvmlReturn_t PowerMW(nvmlDevice_t device, unsigned* mw) const;

 private:
  using InitFn = nvmlReturn_t (*)();
  using ShutdownFn = nvmlReturn_t (*)();
  using CountFn = nvmlReturn_t (*)(unsigned*);
  using HandleFn = nvmlReturn_t (*)(unsigned, nvmlDevice_t*);
  using NameFn = nvmlReturn_t (*)(nvmlDevice_t, char*, unsigned);
  using EnergyFn = nvmlReturn_t (*)(nvmlDevice_t, unsigned long long*);
  using PowerFn = nvmlReturn_t (*)(nvmlDevice_t, unsigned*);
  using ErrorStringFn = const char* (*)(nvmlReturn_t);

  void* handle_ = nullptr;
  bool initialized_ = false;
  std::string path_;
  InitFn init_ = nullptr;
  ShutdownFn shutdown_ = nullptr;
  CountFn count_ = nullptr;
  HandleFn handleByIndex_ = nullptr;
  NameFn name_ = nullptr;
  EnergyFn energy_ = nullptr;
  PowerFn power_ = nullptr;
  ErrorStringFn errorString_ = nullptr;
};

/** NVML return code → errno for a sampler source's lastErrno (ENOTSUP for not-supported, else EIO). */
inline int NvmlReturnToErrno(nvmlReturn_t rc) { return rc == kNvmlErrorNotSupported ? ENOTSUP : EIO; }

}  // namespace splitwatt
