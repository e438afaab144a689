// Affinity: sched_getaffinity / sched_setaffinity (pid 0 = the calling thread).
#pragma once

#include <napi.h>

#include "errors.h"

namespace splitwatt {

class Affinity : public Napi::ObjectWrap<Affinity> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Affinity(const Napi::CallbackInfo& info);

 private:
  Napi::Value Get(const Napi::CallbackInfo& info);
  void Set(const Napi::CallbackInfo& info);
  Napi::Value CpuCount(const Napi::CallbackInfo& info);
};

}  // namespace splitwatt
