#include "nvml.h"

#include <cerrno>
#include <climits>

namespace splitwatt {

Napi::Function Nvml::Define(Napi::Env env) {
  return DefineClass(env, "Nvml",
                     {
                         InstanceMethod<&Nvml::DeviceCount>("deviceCount"),
                         InstanceMethod<&Nvml::DeviceName>("deviceName"),
                         InstanceMethod<&Nvml::TotalEnergyMJ>("totalEnergyMJ"),
                         InstanceMethod<&Nvml::PowerMW>("powerMW"),
                         InstanceMethod<&Nvml::Close>("close"),
                     });
}

Nvml::Nvml(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Nvml>(info) {
  Napi::Env env = info.Env();
  Guard(env, [&]() {
    const std::string libPath = ArgString(info, 0, "Nvml: libPath");
    IoFailure failure;
    if (!lib_.Open(libPath, &failure)) throw MakeIoError(env, failure);
  });
}

void Nvml::RequireOpen(Napi::Env env, const char* method) const {
  if (!lib_.IsOpen()) {
    IoFailure f = IoFailure::Errno(EBADF, method, lib_.Path());
    f.message = std::string("EBADF: NVML handle is closed, ") + method + " '" + lib_.Path() + "'";
    throw MakeIoError(env, f);
  }
}

nvmlDevice_t Nvml::Device(const Napi::CallbackInfo& info, const char* method) {
  Napi::Env env = info.Env();
  const auto index = static_cast<unsigned>(ArgInteger(info, 0, std::string("Nvml.") + method + ": index", 0, UINT_MAX));
  RequireOpen(env, method);
  nvmlDevice_t device = nullptr;
  IoFailure failure;
  if (!lib_.DeviceHandle(index, &device, &failure)) throw MakeIoError(env, failure);
  return device;
}

Napi::Value Nvml::DeviceCount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    RequireOpen(env, "deviceCount");
    unsigned count = 0;
    IoFailure failure;
    if (!lib_.DeviceCount(&count, &failure)) throw MakeIoError(env, failure);
    return Napi::Number::New(env, count);
  });
}

Napi::Value Nvml::DeviceName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    nvmlDevice_t device = Device(info, "deviceName");
    std::string name;
    IoFailure failure;
    if (!lib_.DeviceName(device, &name, &failure)) throw MakeIoError(env, failure);
    return Napi::String::New(env, name);
  });
}

Napi::Value Nvml::TotalEnergyMJ(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    nvmlDevice_t device = Device(info, "totalEnergyMJ");
    unsigned long long mj = 0;
    const nvmlReturn_t rc = lib_.TotalEnergyMJ(device, &mj);
    if (rc == kNvmlErrorNotSupported) return env.Null();
    if (rc != kNvmlSuccess) throw MakeIoError(env, lib_.NvmlFailure(rc, "nvmlDeviceGetTotalEnergyConsumption"));
    return Napi::BigInt::New(env, static_cast<uint64_t>(mj));
  });
}

Napi::Value Nvml::PowerMW(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    nvmlDevice_t device = Device(info, "powerMW");
    unsigned mw = 0;
    const nvmlReturn_t rc = lib_.PowerMW(device, &mw);
    if (rc == kNvmlErrorNotSupported) return env.Null();
    if (rc != kNvmlSuccess) throw MakeIoError(env, lib_.NvmlFailure(rc, "nvmlDeviceGetPowerUsage"));
    return Napi::Number::New(env, mw);
  });
}

void Nvml::Close(const Napi::CallbackInfo& info) {
  Guard(info.Env(), [&]() { lib_.Close(); });
}

}  // namespace splitwatt
