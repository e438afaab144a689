// Vulkan: the physical devices a Vulkan loader (libvulkan.so.1, dlopen'd) reports, so splitwatt
// can name the GPU under onnxruntime's WebGPU provider (Dawn runs on Vulkan on Linux, and
// onnxruntime-node does not expose Dawn's adapter info). Stateless: each call loads the library,
// creates an instance, enumerates, destroys the instance and unloads the library.
#pragma once

#include <napi.h>

#include "errors.h"

namespace splitwatt {

class Vulkan : public Napi::ObjectWrap<Vulkan> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Vulkan(const Napi::CallbackInfo& info);

 private:
  /** physicalDevices(libPath) -> Promise<{ loaderApiVersion, createResult, devices }> (on the libuv pool). */
  Napi::Value PhysicalDevices(const Napi::CallbackInfo& info);
};

}  // namespace splitwatt
