// Sampler: a background thread that reads energy counters / power meters every period,
// integrates them into per-source nanojoule accumulators and hands batches to JS through a
// bounded, unref'd ThreadSafeFunction (never blocking on JS).
#pragma once

#include <napi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "errors.h"
#include "io_util.h"
#include "nvml_lib.h"

namespace splitwatt {

class Sampler;

namespace sampler_detail {

enum class Kind { CounterFile, CounterMsr, CounterPerf, CounterNvml, PowerFile, PowerVi, PowerNvml };

/** One source: its configuration, its open handles and its accumulated state. */
struct Source {
  Kind kind = Kind::CounterFile;
  std::string id;

  // configuration
  std::string path;   // counter-file, counter-msr, power-file; power-vi: voltage path
  std::string path2;  // power-vi: current path
  uint32_t reg = 0;   // counter-msr
  uint32_t perfType = 0;
  uint64_t perfConfig = 0;
  int cpu = 0;
  std::string libPath;  // nvml kinds
  unsigned index = 0;
  double scale = 1.0;      // scaleToNJ (counters) or scaleToUW (power)
  uint64_t scaleInt = 0;   // scale as an exact integer when it is one (counters), else 0
  uint64_t maxRange = 0;

  // handles
  UniqueFd fd;
  UniqueFd fd2;
  std::shared_ptr<NvmlLib> nvml;
  nvmlDevice_t device = nullptr;

  // state
  bool haveBase = false;
  uint64_t prevCounter = 0;
  double prevPowerUW = 0;
  int64_t prevTNs = 0;
  uint64_t energyNJ = 0;
  double remNJ = 0;  // fractional nanojoules not yet in energyNJ, in [0, 1)
  double samples = 0;
  double errors = 0;
  double resets = 0;
  int lastErrno = 0;
  double last = 0;

  bool IsPower() const { return kind == Kind::PowerFile || kind == Kind::PowerVi || kind == Kind::PowerNvml; }
};

/** Samples handed to JS: times plus cumulative µJ per source, row-major [sample][source]. */
struct Batch {
  std::vector<double> tNs;
  std::vector<double> energyUJ;
  uint32_t droppedBatches = 0;
};

/** Copy of one source's state for building a snapshot outside the lock. */
struct SourceState {
  uint64_t energyNJ;
  double samples, errors, resets;
  int lastErrno;
  double last;
};

/**
 * Context of the ThreadSafeFunction. Lives until the TSFN finalizer, which may run after the
 * Sampler is gone (or before it, at env teardown). Touched only on the JS thread, except
 * `outstanding` (also by the sampler thread).
 */
struct Delivery;

}  // namespace sampler_detail

class Sampler : public Napi::ObjectWrap<Sampler> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Sampler(const Napi::CallbackInfo& info);
  ~Sampler() override;

  static void CallJs(Napi::Env env, Napi::Function onBatch, sampler_detail::Delivery* ctx, sampler_detail::Batch* batch);

 private:
  using Source = sampler_detail::Source;
  using Batch = sampler_detail::Batch;
  using Delivery = sampler_detail::Delivery;
  using Tsfn = Napi::TypedThreadSafeFunction<Delivery, Batch, &Sampler::CallJs>;

  friend struct sampler_detail::Delivery;
  static void FinalizeTsfn(Napi::Env env, void* data, Delivery* ctx);
  static void OnEnvCleanup(void* arg);

  // JS methods
  void Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value SampleNow(const Napi::CallbackInfo& info);
  Napi::Value Tick(const Napi::CallbackInfo& info);
  Napi::Value Snapshot(const Napi::CallbackInfo& info);
  Napi::Value ThreadCpuNs(const Napi::CallbackInfo& info);
  Napi::Value Running(const Napi::CallbackInfo& info);
  void Dispose(const Napi::CallbackInfo& info);

  // construction
  void Init(const Napi::CallbackInfo& info);
  void ParseOptions(Napi::Env env, Napi::Value options, Napi::Function* onBatch);
  void OpenSource(Napi::Env env, Source& s);

  // sampling (mu_ held)
  void SampleLocked(int64_t tNs, double batchTNs, std::unique_ptr<Batch>* full);
  void SampleSource(Source& s, int64_t tNs);
  int ReadCounter(Source& s, uint64_t* value);
  int ReadPowerUW(Source& s, double* uw);
  std::unique_ptr<Batch> TakePartialBatchLocked();
  Napi::Value BuildSnapshot(Napi::Env env, int64_t tNs, const std::vector<sampler_detail::SourceState>& states) const;
  // Sample at `tNs` (tick), or, without one, at the steady clock read under the lock (sampleNow):
  // the thread reads its time under the same lock, so samples are taken in time order and no
  // source's previous time ever moves back (which would integrate an interval twice).
  Napi::Value SampleAndSnapshot(Napi::Env env, std::optional<int64_t> givenTNs);

  // delivery (any thread)
  void Enqueue(std::unique_ptr<Batch> batch);

  // lifecycle
  void ThreadMain();
  void RecordThreadCpu();
  void StopThread();
  void DisposeInternal();
  void ReleaseTsfn();
  [[noreturn]] void ThrowState(Napi::Env env, int err, const char* method, const char* why) const;
  void RequireUsable(Napi::Env env, const char* method) const;

  napi_env env_ = nullptr;
  std::vector<Source> sources_;
  std::map<std::string, std::shared_ptr<NvmlLib>> nvmlLibs_;
  std::chrono::nanoseconds period_{10'000'000};
  size_t batchSize_ = 10;
  std::chrono::steady_clock::time_point t0_;

  // guarded by mu_
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopRequested_ = false;
  std::unique_ptr<Batch> batch_;
  int64_t lastTNs_ = 0;

  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<uint64_t> cpuNs_{0};  // total thread CPU over all runs so far
  uint64_t cpuBaseNs_ = 0;          // CPU of finished runs (written by the thread, read after join)
  std::atomic<uint32_t> dropped_{0};

  // JS-thread state
  bool hasOnBatch_ = false;
  bool tsfnAlive_ = false;
  Tsfn tsfn_;
  Delivery* delivery_ = nullptr;
  bool hookRegistered_ = false;
  bool envTearingDown_ = false;
  bool selfRefHeld_ = false;
  bool inDestructor_ = false;
  bool disposed_ = false;
};

}  // namespace splitwatt
