#include "io_util.h"  // first: sets _FILE_OFFSET_BITS before any libc header

#include "perf.h"

#include <linux/perf_event.h>
#include <sys/syscall.h>

#include <cstdio>
#include <cstring>

namespace splitwatt {

std::string DescribePerfEvent(uint32_t type, uint64_t config, int cpu) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "perf type=%u config=0x%llx cpu=%d", type,
                static_cast<unsigned long long>(config), cpu);
  return buf;
}

int OpenPerfCounter(uint32_t type, uint64_t config, int cpu, IoFailure* failure) {
  struct perf_event_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.type = type;
  attr.size = sizeof attr;
  attr.config = config;
  const long fd = ::syscall(SYS_perf_event_open, &attr, static_cast<pid_t>(-1), cpu, -1,
                            static_cast<unsigned long>(PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) {
    *failure = IoFailure::Errno(errno, "perf_event_open", DescribePerfEvent(type, config, cpu));
    return -1;
  }
  return static_cast<int>(fd);
}

int ReadPerfCounter(int fd, uint64_t* value) {
  uint64_t v = 0;
  const ssize_t n = ReadRetry(fd, &v, sizeof v);
  if (n < 0) return errno;
  if (n != static_cast<ssize_t>(sizeof v)) return EIO;
  *value = v;
  return 0;
}

Napi::Function Perf::Define(Napi::Env env) {
  return DefineClass(env, "Perf", {InstanceMethod<&Perf::Probe>("probe")});
}

Perf::Perf(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Perf>(info) {}

Napi::Value Perf::Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const auto type = static_cast<uint32_t>(ArgInteger(info, 0, "Perf.probe: type", 0, UINT32_MAX));
    const auto config = static_cast<uint64_t>(ArgInteger(info, 1, "Perf.probe: config", 0, (int64_t{1} << 53)));
    const auto cpu = static_cast<int>(ArgInteger(info, 2, "Perf.probe: cpu", 0, INT32_MAX));
    IoFailure failure;
    UniqueFd fd(OpenPerfCounter(type, config, cpu, &failure));
    if (!fd.valid()) throw MakeIoError(env, failure);
    uint64_t value = 0;
    const int err = ReadPerfCounter(fd.get(), &value);
    if (err != 0) throw MakeIoError(env, err, "read", DescribePerfEvent(type, config, cpu));
    return Napi::BigInt::New(env, value);
  });
}

}  // namespace splitwatt
