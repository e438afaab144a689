#include "nvml_lib.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cerrno>

namespace splitwatt {

namespace {
template <typename Fn>
Fn Symbol(void* handle, const char* name) {
  // POSIX guarantees data and function pointers convert through dlsym.
  return reinterpret_cast<Fn>(::dlsym(handle, name));
}
}  // namespace

bool NvmlLib::Open(const std::string& libPath, IoFailure* failure) {
  Close();
  path_ = libPath;
  ::dlerror();
  handle_ = ::dlopen(libPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    const char* why = ::dlerror();
    // A path that exists but does not load (wrong arch, missing deps) is not "absent".
    struct stat st;
    const bool exists = libPath.find('/') != std::string::npos && ::stat(libPath.c_str(), &st) == 0;
    IoFailure f = IoFailure::Errno(exists ? ENOEXEC : ENOENT, "dlopen", libPath);
    f.message = f.Code() + ": cannot load NVML, dlopen '" + libPath + "': " + (why != nullptr ? why : "unknown error");
    *failure = std::move(f);
    return false;
  }
  init_ = Symbol<InitFn>(handle_, "nvmlInit_v2");
  shutdown_ = Symbol<ShutdownFn>(handle_, "nvmlShutdown");
  count_ = Symbol<CountFn>(handle_, "nvmlDeviceGetCount_v2");
  handleByIndex_ = Symbol<HandleFn>(handle_, "nvmlDeviceGetHandleByIndex_v2");
  errorString_ = Symbol<ErrorStringFn>(handle_, "nvmlErrorString");
  // Optional: older drivers lack some of these; a missing one reads as not-supported.
  name_ = Symbol<NameFn>(handle_, "nvmlDeviceGetName");
  energy_ = Symbol<EnergyFn>(handle_, "nvmlDeviceGetTotalEnergyConsumption");
  power_ = Symbol<PowerFn>(handle_, "nvmlDeviceGetPowerUsage");

  const char* missing = init_ == nullptr            ? "nvmlInit_v2"
                        : shutdown_ == nullptr      ? "nvmlShutdown"
                        : count_ == nullptr         ? "nvmlDeviceGetCount_v2"
                        : handleByIndex_ == nullptr ? "nvmlDeviceGetHandleByIndex_v2"
                        : errorString_ == nullptr   ? "nvmlErrorString"
                                                    : nullptr;
  if (missing != nullptr) {
    IoFailure f = IoFailure::Errno(EIO, "dlsym", libPath);
    f.code = "ENVML";
    f.message = std::string("ENVML: symbol ") + missing + " not found in '" + libPath + "'";
    *failure = std::move(f);
    Close();
    return false;
  }
  const nvmlReturn_t rc = init_();
  if (rc != kNvmlSuccess) {
    *failure = NvmlFailure(rc, "nvmlInit_v2");
    Close();
    return false;
  }
  initialized_ = true;
  return true;
}

void NvmlLib::Close() {
  if (initialized_ && shutdown_ != nullptr) shutdown_();
  initialized_ = false;
  if (handle_ != nullptr) ::dlclose(handle_);
  handle_ = nullptr;
  init_ = nullptr;
  shutdown_ = nullptr;
  count_ = nullptr;
  handleByIndex_ = nullptr;
  name_ = nullptr;
  energy_ = nullptr;
  power_ = nullptr;
  errorString_ = nullptr;
}

std::string NvmlLib::ErrorString(nvmlReturn_t rc) const {
  const char* s = errorString_ != nullptr ? errorString_(rc) : nullptr;
  return s != nullptr ? std::string(s) : "NVML error " + std::to_string(rc);
}

IoFailure NvmlLib::NvmlFailure(nvmlReturn_t rc, const std::string& call) const {
  IoFailure f = IoFailure::Errno(EIO, call, path_);
  f.code = "ENVML";
  f.nvmlReturn = rc;
  f.message = "ENVML: " + ErrorString(rc) + " (nvmlReturn " + std::to_string(rc) + "), " + call + " '" + path_ + "'";
  return f;
}

bool NvmlLib::DeviceCount(unsigned* count, IoFailure* failure) const {
  const nvmlReturn_t rc = count_(count);
  if (rc != kNvmlSuccess) {
    *failure = NvmlFailure(rc, "nvmlDeviceGetCount_v2");
    return false;
  }
  return true;
}

bool NvmlLib::DeviceHandle(unsigned index, nvmlDevice_t* device, IoFailure* failure) const {
  const nvmlReturn_t rc = handleByIndex_(index, device);
  if (rc != kNvmlSuccess) {
    *failure = NvmlFailure(rc, "nvmlDeviceGetHandleByIndex_v2");
    return false;
  }
  return true;
}

bool NvmlLib::DeviceName(nvmlDevice_t device, std::string* name, IoFailure* failure) const {
  char buf[kNvmlDeviceNameBufferSize] = {0};
  const nvmlReturn_t rc = name_ != nullptr ? name_(device, buf, sizeof buf) : kNvmlErrorNotSupported;
  if (rc != kNvmlSuccess) {
    *failure = NvmlFailure(rc, "nvmlDeviceGetName");
    return false;
  }
  buf[sizeof buf - 1] = '\0';
  *name = buf;
  return true;
}

nvmlReturn_t NvmlLib::TotalEnergyMJ(nvmlDevice_t device, unsigned long long* mj) const {
  return energy_ != nullptr ? energy_(device, mj) : kNvmlErrorNotSupported;
}

nvmlReturn_t NvmlLib::PowerMW(nvmlDevice_t device, unsigned* mw) const {
  return power_ != nullptr ? power_(device, mw) : kNvmlErrorNotSupported;
}

}  // namespace splitwatt
