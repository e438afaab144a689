// Sysfs: stateless file I/O for sysfs/procfs/devfs trees (real or fake).
#pragma once

#include <napi.h>

#include <string>

#include "errors.h"

namespace splitwatt {

/** open + read up to 64 KiB + close. Returns true and fills `text`, or fills `failure`. */
bool ReadSmallFile(const std::string& path, std::string* text, IoFailure* failure);

/**
 * open(O_WRONLY|O_CLOEXEC) (no O_CREAT/O_TRUNC: sysfs semantics) + one write of the whole
 * text + close; on a regular file (fake trees) the file is truncated to the written length.
 */
bool WriteSmallFile(const std::string& path, const std::string& text, IoFailure* failure);

class Sysfs : public Napi::ObjectWrap<Sysfs> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Sysfs(const Napi::CallbackInfo& info);

 private:
  Napi::Value ReadMany(const Napi::CallbackInfo& info);
  Napi::Value ReadSync(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  void WriteSync(const Napi::CallbackInfo& info);
  Napi::Value List(const Napi::CallbackInfo& info);
  Napi::Value RealpathSync(const Napi::CallbackInfo& info);
  Napi::Value Access(const Napi::CallbackInfo& info);
};

}  // namespace splitwatt
