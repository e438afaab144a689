// Perf: one-off perf_event_open probes (the sampler opens and keeps its own fds).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "errors.h"

namespace splitwatt {

/**
 * perf_event_open(attr{type, config, size = sizeof attr}, pid -1, cpu, group -1, CLOEXEC).
 * Returns the fd, or -1 with `failure` filled (syscall "perf_event_open", path describing the event).
 */
int OpenPerfCounter(uint32_t type, uint64_t config, int cpu, IoFailure* failure);

/** read one u64 count from a perf fd. Returns 0 or an errno. */
int ReadPerfCounter(int fd, uint64_t* value);

/** "perf type=T config=0xC cpu=N": the resource named in perf errors. */
std::string DescribePerfEvent(uint32_t type, uint64_t config, int cpu);

class Perf : public Napi::ObjectWrap<Perf> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Perf(const Napi::CallbackInfo& info);

 private:
  Napi::Value Probe(const Napi::CallbackInfo& info);
};

}  // namespace splitwatt
