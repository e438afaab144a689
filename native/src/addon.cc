// The only place that registers anything with Node: napiVersion, buildInfo, the classes and
// energyDelta. Nothing here holds state; every class keeps its own per-instance state.
#include <napi.h>

#include <string>

#include "affinity.h"
#include "energy_delta.h"
#include "errors.h"
#include "msr.h"
#include "nvml.h"
#include "perf.h"
#include "sampler.h"
#include "sysfs.h"
#include "vulkan.h"

namespace splitwatt {
namespace {

std::string BuildInfo() {
  std::string info = "splitwatt native addon; ";
#if defined(__clang__)
  info += "clang " __clang_version__;
#elif defined(__GNUC__)
  info += "gcc " __VERSION__;
#else
  info += "unknown compiler";
#endif
  info += "; C++" + std::to_string(__cplusplus);
#ifdef NDEBUG
  info += "; Release";
#else
  info += "; Debug";
#endif
  info += "; N-API " + std::to_string(NAPI_VERSION);
#if defined(__x86_64__)
  info += "; x86_64";
#elif defined(__aarch64__)
  info += "; aarch64";
#elif defined(__arm__)
  info += "; arm";
#endif
  return info;
}

Napi::Value EnergyDeltaJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    auto arg = [&](size_t i, const char* name) {
      return ValueBigUint64(env, info.Length() > i ? info[i] : env.Undefined(), std::string("energyDelta: ") + name);
    };
    const uint64_t prev = arg(0, "prev");
    const uint64_t cur = arg(1, "cur");
    const uint64_t maxRange = arg(2, "maxRange");
    const std::optional<uint64_t> delta = EnergyDelta(prev, cur, maxRange);
    if (!delta) return env.Null();
    return Napi::BigInt::New(env, *delta);
  });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  exports.Set("buildInfo", Napi::String::New(env, BuildInfo()));
  exports.Set("Sysfs", Sysfs::Define(env));
  exports.Set("Msr", Msr::Define(env));
  exports.Set("Perf", Perf::Define(env));
  exports.Set("Nvml", Nvml::Define(env));
  exports.Set("Sampler", Sampler::Define(env));
  exports.Set("Affinity", Affinity::Define(env));
  exports.Set("Vulkan", Vulkan::Define(env));
  exports.Set("energyDelta", Napi::Function::New<EnergyDeltaJs>(env, "energyDelta"));
  return exports;
}

}  // namespace
}  // namespace splitwatt

// NODE_API_MODULE pastes the init function's name into an identifier, so it must be unqualified.
static Napi::Object InitSplitwatt(Napi::Env env, Napi::Object exports) { return splitwatt::Init(env, exports); }

NODE_API_MODULE(splitwatt, InitSplitwatt)
