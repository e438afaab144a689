#include "affinity.h"

#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <string>

namespace splitwatt {

namespace {
std::string DescribePid(int64_t pid) { return pid == 0 ? std::string("pid 0 (calling thread)") : "pid " + std::to_string(pid); }
}  // namespace

Napi::Function Affinity::Define(Napi::Env env) {
  return DefineClass(env, "Affinity",
                     {
                         InstanceMethod<&Affinity::Get>("get"),
                         InstanceMethod<&Affinity::Set>("set"),
                         InstanceMethod<&Affinity::CpuCount>("cpuCount"),
                     });
}

Affinity::Affinity(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Affinity>(info) {}

Napi::Value Affinity::Get(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const int64_t pid = ArgInteger(info, 0, "Affinity.get: pid", 0, INT32_MAX);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(static_cast<pid_t>(pid), sizeof set, &set) != 0) {
      throw MakeIoError(env, errno, "sched_getaffinity", DescribePid(pid));
    }
    Napi::Array out = Napi::Array::New(env);
    uint32_t n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set)) out.Set(n++, Napi::Number::New(env, cpu));
    }
    return out;
  });
}

void Affinity::Set(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Guard(env, [&]() {
    const int64_t pid = ArgInteger(info, 0, "Affinity.set: pid", 0, INT32_MAX);
    if (info.Length() < 2 || !info[1].IsArray()) ThrowTypeError(env, "Affinity.set: cpus must be an array of cpu numbers");
    Napi::Array cpus = info[1].As<Napi::Array>();
    cpu_set_t set;
    CPU_ZERO(&set);
    for (uint32_t i = 0; i < cpus.Length(); ++i) {
      const int64_t cpu = ValueInteger(env, cpus.Get(i), "Affinity.set: cpus[" + std::to_string(i) + "]", 0, CPU_SETSIZE - 1);
      CPU_SET(static_cast<int>(cpu), &set);
    }
    // An empty (or entirely offline) set is left to the kernel, which answers EINVAL.
    if (::sched_setaffinity(static_cast<pid_t>(pid), sizeof set, &set) != 0) {
      throw MakeIoError(env, errno, "sched_setaffinity", DescribePid(pid));
    }
  });
}

Napi::Value Affinity::CpuCount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const long n = ::sysconf(_SC_NPROCESSORS_CONF);
    if (n < 0) throw MakeIoError(env, errno, "sysconf", "_SC_NPROCESSORS_CONF");
    return Napi::Number::New(env, static_cast<double>(n));
  });
}

}  // namespace splitwatt
