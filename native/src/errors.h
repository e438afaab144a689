// Shared error helpers: the NativeIoError shape (Error + errno/code/syscall/path), a plain
// C++ description of a failure that can travel from a worker thread to the JS thread, an
// exception guard for every JS entry point, and a Promise-resolving AsyncWorker base.
#pragma once

#include <napi.h>

#include <cstdint>
#include <exception>
#include <string>
#include <utility>

namespace splitwatt {

/** Symbolic errno name ("EACCES"), or "E<num>" when not in the table. */
std::string ErrnoName(int err);

/** strerror text with a lowercase first letter, like libuv ("permission denied"). */
std::string ErrnoDescription(int err);

/**
 * A failure described without touching N-API, so it can be produced on any thread.
 * `code` empty means ErrnoName(err); `message` empty means the Node-style
 * "CODE: description, syscall 'path'".
 */
struct IoFailure {
  int err = 0;
  std::string syscall;
  std::string path;
  std::string code;
  std::string message;
  /** NVML return code for code "ENVML" failures (exported as `nvmlReturn`), else 0. */
  int nvmlReturn = 0;

  static IoFailure Errno(int err, std::string syscall, std::string path) {
    IoFailure f;
    f.err = err;
    f.syscall = std::move(syscall);
    f.path = std::move(path);
    return f;
  }
  std::string Code() const { return code.empty() ? ErrnoName(err) : code; }
  std::string Message() const;
};

/** Build the JS error object (an `Error` with errno, code, syscall, path). */
Napi::Error MakeIoError(Napi::Env env, const IoFailure& failure);
Napi::Error MakeIoError(Napi::Env env, int err, const std::string& syscall, const std::string& path);

/** TypeError / RangeError helpers for argument validation. */
[[noreturn]] void ThrowTypeError(Napi::Env env, const std::string& message);
[[noreturn]] void ThrowRangeError(Napi::Env env, const std::string& message);

/** Argument readers for entry points; `what` names the argument in the TypeError. */
std::string ArgString(const Napi::CallbackInfo& info, size_t index, const std::string& what);
/** A number that is an integer in [min, max] (TypeError when not a number/integer, RangeError when outside). */
int64_t ArgInteger(const Napi::CallbackInfo& info, size_t index, const std::string& what, int64_t min, int64_t max);
int64_t ValueInteger(Napi::Env env, Napi::Value value, const std::string& what, int64_t min, int64_t max);
/** A BigInt that fits in uint64 (TypeError when not a BigInt, RangeError when outside). */
uint64_t ValueBigUint64(Napi::Env env, Napi::Value value, const std::string& what);

/**
 * Run `fn` and convert any non-Napi C++ exception into a JS Error, so nothing but
 * Napi::Error (which node-addon-api turns into a JS exception) leaves an entry point.
 */
template <typename Fn>
auto Guard(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("splitwatt native: ") + e.what());
  } catch (...) {
    throw Napi::Error::New(env, "splitwatt native: unknown C++ exception");
  }
}

/**
 * AsyncWorker that settles a Promise: Execute() runs on the libuv pool and either succeeds
 * (Result() builds the resolution value on the JS thread) or calls Fail() with an IoFailure,
 * which rejects with the matching NativeIoError.
 */
class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env, const char* resourceName)
      : Napi::AsyncWorker(env, resourceName), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  /** JS-thread: the resolution value (undefined by default). */
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

  /** Pool thread: record the failure; the Promise rejects with it. */
  void Fail(IoFailure failure) {
    failure_ = std::move(failure);
    SetError(failure_.Message());
  }

  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(env, e.what()).Value());
    } catch (...) {
      deferred_.Reject(Napi::Error::New(env, "splitwatt native: unknown C++ exception").Value());
    }
  }

  void OnError(const Napi::Error& error) override {
    Napi::Env env = Env();
    try {
      if (failure_.err != 0 || !failure_.code.empty()) {
        deferred_.Reject(MakeIoError(env, failure_).Value());
      } else {
        deferred_.Reject(error.Value());
      }
    } catch (...) {
      // Nothing sane left to do; never let it escape into Node.
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  IoFailure failure_;
};

}  // namespace splitwatt
