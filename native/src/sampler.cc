#include "io_util.h"  // first: sets _FILE_OFFSET_BITS before any libc header

#include "sampler.h"

#include <time.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "energy_delta.h"
#include "msr.h"
#include "perf.h"

namespace splitwatt {

using sampler_detail::Batch;
using sampler_detail::Kind;
using sampler_detail::Source;
using sampler_detail::SourceState;

namespace sampler_detail {

struct Delivery {
  std::vector<std::string> ids;
  std::atomic<int64_t> outstanding{0};  // items queued on the TSFN and not yet processed
  Sampler* owner = nullptr;             // null once the Sampler is disposed/destroyed
  napi_threadsafe_function tsfn = nullptr;
  bool stopPending = false;
  bool refHeld = false;  // the TSFN is ref'd while a stop() promise waits for the queue to drain
  std::vector<Napi::Promise::Deferred> deferreds;
};

}  // namespace sampler_detail

namespace {

constexpr size_t kMaxQueuedBatches = 16;
constexpr double kMinPeriodMs = 1;
constexpr double kMaxPeriodMs = 10000;
constexpr size_t kMaxBatchSize = 1'000'000;

const char* KindName(Kind k) {
  switch (k) {
    case Kind::CounterFile: return "counter-file";
    case Kind::CounterMsr: return "counter-msr";
    case Kind::CounterPerf: return "counter-perf";
    case Kind::CounterNvml: return "counter-nvml";
    case Kind::PowerFile: return "power-file";
    case Kind::PowerVi: return "power-vi";
    case Kind::PowerNvml: return "power-nvml";
  }
  return "?";
}

bool ParseKind(const std::string& s, Kind* k) {
  static constexpr Kind kAll[] = {Kind::CounterFile, Kind::CounterMsr, Kind::CounterPerf, Kind::CounterNvml,
                                  Kind::PowerFile,   Kind::PowerVi,    Kind::PowerNvml};
  for (Kind c : kAll) {
    if (s == KindName(c)) {
      *k = c;
      return true;
    }
  }
  return false;
}

// ---- option readers ---------------------------------------------------------------------------

Napi::Value Field(Napi::Object o, const char* key) { return o.Get(key); }

std::string GetString(Napi::Env env, Napi::Object o, const char* key, const std::string& where) {
  Napi::Value v = Field(o, key);
  if (!v.IsString()) ThrowTypeError(env, "Sampler: " + where + "." + key + " must be a non-empty string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.empty()) ThrowTypeError(env, "Sampler: " + where + "." + key + " must be a non-empty string");
  return s;
}

double GetPositive(Napi::Env env, Napi::Object o, const char* key, const std::string& where) {
  Napi::Value v = Field(o, key);
  if (!v.IsNumber()) ThrowTypeError(env, "Sampler: " + where + "." + key + " must be a finite number > 0");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d <= 0) ThrowRangeError(env, "Sampler: " + where + "." + key + " must be a finite number > 0");
  return d;
}

int64_t GetInt(Napi::Env env, Napi::Object o, const char* key, const std::string& where, int64_t min, int64_t max) {
  Napi::Value v = Field(o, key);
  if (v.IsUndefined()) ThrowTypeError(env, "Sampler: " + where + "." + key + " is required");
  return ValueInteger(env, v, "Sampler: " + where + "." + key, min, max);
}

uint64_t GetBigUint(Napi::Env env, Napi::Object o, const char* key, const std::string& where) {
  Napi::Value v = Field(o, key);
  if (v.IsUndefined()) ThrowTypeError(env, "Sampler: " + where + "." + key + " is required (a BigInt, 0n when unknown)");
  return ValueBigUint64(env, v, "Sampler: " + where + "." + key);
}

// ---- reading ----------------------------------------------------------------------------------

/** pread up to 64 bytes of a text file through a kept-open fd (reopened after any error). */
int ReadText(UniqueFd& fd, const std::string& path, char (&buf)[65]) {
  if (!fd.valid()) {
    const int f = OpenRetry(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f < 0) return errno;
    fd.Reset(f);
  }
  const ssize_t n = PreadRetry(fd.get(), buf, 64, 0);
  if (n < 0) {
    const int err = errno;
    fd.Reset();
    return err;
  }
  buf[n] = '\0';
  return 0;
}

int ReadTextU64(UniqueFd& fd, const std::string& path, uint64_t* out) {
  char buf[65];
  int err = ReadText(fd, path, buf);
  if (err == 0) err = ParseU64(buf, out);
  // Any failure drops the fd: a sysfs node that went away (or a fake file that was replaced)
  // is reopened by path on the next sample.
  if (err != 0) fd.Reset();
  return err;
}

int ReadTextI64(UniqueFd& fd, const std::string& path, int64_t* out) {
  char buf[65];
  int err = ReadText(fd, path, buf);
  if (err == 0) err = ParseI64(buf, out);
  if (err != 0) fd.Reset();
  return err;
}

void AddNJ(Source& s, double nj) {
  if (!(nj > 0)) return;  // negative (shunt noise), zero or NaN adds nothing
  const double total = s.remNJ + nj;
  const double whole = std::floor(total);
  constexpr double kMax = 18446744073709549568.0;  // largest double below 2^64
  s.energyNJ += static_cast<uint64_t>(std::min(whole, kMax));
  s.remNJ = total - whole;
}

void AddCounterDelta(Source& s, uint64_t delta) {
  if (s.scaleInt != 0 && (delta == 0 || s.scaleInt <= std::numeric_limits<uint64_t>::max() / delta)) {
    s.energyNJ += delta * s.scaleInt;  // exact
  } else {
    AddNJ(s, static_cast<double>(delta) * s.scale);
  }
}

double EnergyUJ(const Source& s) { return static_cast<double>(s.energyNJ) / 1000.0 + s.remNJ / 1000.0; }

}  // namespace

// ---- class definition -----------------------------------------------------------------------------

Napi::Function Sampler::Define(Napi::Env env) {
  return DefineClass(env, "Sampler",
                     {
                         InstanceMethod<&Sampler::Start>("start"),
                         InstanceMethod<&Sampler::Stop>("stop"),
                         InstanceMethod<&Sampler::SampleNow>("sampleNow"),
                         InstanceMethod<&Sampler::Tick>("tick"),
                         InstanceMethod<&Sampler::Snapshot>("snapshot"),
                         InstanceMethod<&Sampler::ThreadCpuNs>("threadCpuNs"),
                         InstanceAccessor<&Sampler::Running>("running"),
                         InstanceMethod<&Sampler::Dispose>("dispose"),
                     });
}

Sampler::Sampler(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Sampler>(info) {
  env_ = info.Env();
  t0_ = std::chrono::steady_clock::now();
  try {
    Guard(info.Env(), [&]() { Init(info); });
  } catch (...) {
    // The destructor does not run for a throwing constructor: release what Init acquired.
    DisposeInternal();
    throw;
  }
}

Sampler::~Sampler() {
  inDestructor_ = true;
  try {
    DisposeInternal();
  } catch (...) {
  }
}

void Sampler::Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Function onBatch;
  ParseOptions(env, info.Length() > 0 ? info[0] : env.Undefined(), &onBatch);
  for (Source& s : sources_) OpenSource(env, s);

  batch_ = std::make_unique<Batch>();
  if (hasOnBatch_) {
    auto* ctx = new Delivery();
    for (const Source& s : sources_) ctx->ids.push_back(s.id);
    ctx->owner = this;
    try {
      tsfn_ = Tsfn::New(env, onBatch, "splitwatt:Sampler", kMaxQueuedBatches, 1, ctx, &Sampler::FinalizeTsfn,
                        static_cast<void*>(nullptr));
    } catch (...) {
      delete ctx;
      throw;
    }
    ctx->tsfn = tsfn_;
    delivery_ = ctx;
    tsfnAlive_ = true;
    tsfn_.Unref(env);  // a running sampler must not keep the process alive
  }
  // Registered after the TSFN so it runs before the TSFN's own teardown (hooks run in reverse order).
  if (napi_add_env_cleanup_hook(env, &Sampler::OnEnvCleanup, this) != napi_ok) {
    throw Napi::Error::New(env, "Sampler: napi_add_env_cleanup_hook failed");
  }
  hookRegistered_ = true;
}

void Sampler::ParseOptions(Napi::Env env, Napi::Value optionsValue, Napi::Function* onBatch) {
  if (!optionsValue.IsObject()) ThrowTypeError(env, "Sampler: options must be an object");
  Napi::Object options = optionsValue.As<Napi::Object>();

  Napi::Value periodValue = options.Get("periodMs");
  double periodMs = 10;
  if (!periodValue.IsUndefined()) {
    if (!periodValue.IsNumber()) ThrowTypeError(env, "Sampler: options.periodMs must be a number (1..10000 ms)");
    periodMs = periodValue.As<Napi::Number>().DoubleValue();
    if (!(periodMs >= kMinPeriodMs && periodMs <= kMaxPeriodMs)) {
      ThrowRangeError(env, "Sampler: options.periodMs must be in 1..10000 ms");
    }
  }
  period_ = std::chrono::nanoseconds(static_cast<int64_t>(std::llround(periodMs * 1e6)));

  Napi::Value batchValue = options.Get("batchSize");
  if (batchValue.IsUndefined()) {
    batchSize_ = static_cast<size_t>(std::max(1.0, std::ceil(100.0 / periodMs)));  // ~100 ms per batch
  } else {
    batchSize_ = static_cast<size_t>(ValueInteger(env, batchValue, "Sampler: options.batchSize", 1, kMaxBatchSize));
  }

  Napi::Value cb = options.Get("onBatch");
  if (!cb.IsUndefined() && !cb.IsNull()) {
    if (!cb.IsFunction()) ThrowTypeError(env, "Sampler: options.onBatch must be a function");
    *onBatch = cb.As<Napi::Function>();
    hasOnBatch_ = true;
  }

  Napi::Value sourcesValue = options.Get("sources");
  if (!sourcesValue.IsArray()) ThrowTypeError(env, "Sampler: options.sources must be an array");
  Napi::Array arr = sourcesValue.As<Napi::Array>();
  std::set<std::string> ids;
  sources_.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    const std::string where = "sources[" + std::to_string(i) + "]";
    Napi::Value v = arr.Get(i);
    if (!v.IsObject()) ThrowTypeError(env, "Sampler: " + where + " must be an object");
    Napi::Object o = v.As<Napi::Object>();
    Source s;
    Napi::Value kindValue = o.Get("kind");
    if (!kindValue.IsString()) ThrowTypeError(env, "Sampler: " + where + ".kind must be a string");
    const std::string kind = kindValue.As<Napi::String>().Utf8Value();
    if (!ParseKind(kind, &s.kind)) {
      ThrowTypeError(env, "Sampler: " + where + ".kind \"" + kind +
                              "\" is not one of counter-file, counter-msr, counter-perf, counter-nvml, power-file, "
                              "power-vi, power-nvml");
    }
    s.id = GetString(env, o, "id", where);
    if (s.id == "__proto__") ThrowTypeError(env, "Sampler: " + where + ".id must not be \"__proto__\"");
    if (!ids.insert(s.id).second) ThrowTypeError(env, "Sampler: " + where + ".id \"" + s.id + "\" is a duplicate");

    switch (s.kind) {
      case Kind::CounterFile: s.path = GetString(env, o, "path", where); break;
      case Kind::CounterMsr:
        s.path = GetString(env, o, "path", where);
        s.reg = static_cast<uint32_t>(GetInt(env, o, "register", where, 0, UINT32_MAX));
        break;
      case Kind::CounterPerf:
        s.perfType = static_cast<uint32_t>(GetInt(env, o, "type", where, 0, UINT32_MAX));
        s.perfConfig = static_cast<uint64_t>(GetInt(env, o, "config", where, 0, int64_t{1} << 53));
        s.cpu = static_cast<int>(GetInt(env, o, "cpu", where, 0, INT32_MAX));
        break;
      case Kind::CounterNvml:
      case Kind::PowerNvml:
        s.libPath = GetString(env, o, "libPath", where);
        s.index = static_cast<unsigned>(GetInt(env, o, "index", where, 0, UINT32_MAX));
        break;
      case Kind::PowerFile: s.path = GetString(env, o, "path", where); break;
      case Kind::PowerVi:
        s.path = GetString(env, o, "voltagePath", where);
        s.path2 = GetString(env, o, "currentPath", where);
        break;
    }
    if (s.IsPower()) {
      s.scale = GetPositive(env, o, "scaleToUW", where);
    } else {
      s.scale = GetPositive(env, o, "scaleToNJ", where);
      s.maxRange = GetBigUint(env, o, "maxRange", where);
      if (std::floor(s.scale) == s.scale && s.scale <= 9007199254740992.0) s.scaleInt = static_cast<uint64_t>(s.scale);
    }
    sources_.push_back(std::move(s));
  }
}

void Sampler::OpenSource(Napi::Env env, Source& s) {
  auto openFile = [&](UniqueFd& fd, const std::string& path) {
    fd.Reset(OpenRetry(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) throw MakeIoError(env, errno, "open", path);
  };
  auto nvml = [&]() {
    auto& lib = nvmlLibs_[s.libPath];
    if (!lib) {
      auto fresh = std::make_shared<NvmlLib>();
      IoFailure failure;
      if (!fresh->Open(s.libPath, &failure)) {
        nvmlLibs_.erase(s.libPath);
        throw MakeIoError(env, failure);
      }
      lib = std::move(fresh);
    }
    s.nvml = lib;
    IoFailure failure;
    if (!s.nvml->DeviceHandle(s.index, &s.device, &failure)) throw MakeIoError(env, failure);
  };
  auto nvmlUnsupported = [&](const char* call) {
    IoFailure f = IoFailure::Errno(ENOTSUP, call, s.libPath + " device " + std::to_string(s.index));
    throw MakeIoError(env, f);
  };

  // Open, then probe one read so a bad source fails here (with its errno) and not on the thread.
  switch (s.kind) {
    case Kind::CounterFile: {
      openFile(s.fd, s.path);
      uint64_t v;
      const int err = ReadTextU64(s.fd, s.path, &v);
      if (err != 0) throw MakeIoError(env, err, "read", s.path);
      break;
    }
    case Kind::CounterMsr: {
      openFile(s.fd, s.path);
      uint64_t v;
      const int err = PreadMsr(s.fd.get(), s.reg, &v);
      if (err != 0) {
        char where[32];
        std::snprintf(where, sizeof where, "@0x%x", s.reg);
        throw MakeIoError(env, err, "pread", s.path + where);
      }
      break;
    }
    case Kind::CounterPerf: {
      IoFailure failure;
      s.fd.Reset(OpenPerfCounter(s.perfType, s.perfConfig, s.cpu, &failure));
      if (!s.fd.valid()) throw MakeIoError(env, failure);
      uint64_t v;
      const int err = ReadPerfCounter(s.fd.get(), &v);
      if (err != 0) throw MakeIoError(env, err, "read", DescribePerfEvent(s.perfType, s.perfConfig, s.cpu));
      break;
    }
    case Kind::CounterNvml: {
      nvml();
      unsigned long long mj;
      const nvmlReturn_t rc = s.nvml->TotalEnergyMJ(s.device, &mj);
      if (rc == kNvmlErrorNotSupported) nvmlUnsupported("nvmlDeviceGetTotalEnergyConsumption");
      if (rc != kNvmlSuccess) throw MakeIoError(env, s.nvml->NvmlFailure(rc, "nvmlDeviceGetTotalEnergyConsumption"));
      break;
    }
    case Kind::PowerNvml: {
      nvml();
      unsigned mw;
      const nvmlReturn_t rc = s.nvml->PowerMW(s.device, &mw);
      if (rc == kNvmlErrorNotSupported) nvmlUnsupported("nvmlDeviceGetPowerUsage");
      if (rc != kNvmlSuccess) throw MakeIoError(env, s.nvml->NvmlFailure(rc, "nvmlDeviceGetPowerUsage"));
      break;
    }
    case Kind::PowerFile:
    case Kind::PowerVi: {
      openFile(s.fd, s.path);
      int64_t v;
      int err = ReadTextI64(s.fd, s.path, &v);
      if (err != 0) throw MakeIoError(env, err, "read", s.path);
      if (s.kind == Kind::PowerVi) {
        openFile(s.fd2, s.path2);
        err = ReadTextI64(s.fd2, s.path2, &v);
        if (err != 0) throw MakeIoError(env, err, "read", s.path2);
      }
      break;
    }
  }
}

// ---- sampling -------------------------------------------------------------------------------------

int Sampler::ReadCounter(Source& s, uint64_t* value) {
  switch (s.kind) {
    case Kind::CounterFile: return ReadTextU64(s.fd, s.path, value);
    case Kind::CounterMsr: {
      if (!s.fd.valid()) {
        const int f = OpenRetry(s.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (f < 0) return errno;
        s.fd.Reset(f);
      }
      uint64_t raw = 0;
      const int err = PreadMsr(s.fd.get(), s.reg, &raw);
      if (err != 0) {
        s.fd.Reset();
        return err;
      }
      *value = raw & 0xffffffffu;  // RAPL energy status: the low 32 bits are the counter
      return 0;
    }
    case Kind::CounterPerf: return s.fd.valid() ? ReadPerfCounter(s.fd.get(), value) : EBADF;
    case Kind::CounterNvml: {
      if (!s.nvml) return EBADF;
      unsigned long long mj = 0;
      const nvmlReturn_t rc = s.nvml->TotalEnergyMJ(s.device, &mj);
      if (rc != kNvmlSuccess) return NvmlReturnToErrno(rc);
      *value = static_cast<uint64_t>(mj);
      return 0;
    }
    default: return EINVAL;
  }
}

int Sampler::ReadPowerUW(Source& s, double* uw) {
  switch (s.kind) {
    case Kind::PowerFile: {
      int64_t raw = 0;
      const int err = ReadTextI64(s.fd, s.path, &raw);
      if (err != 0) return err;
      *uw = static_cast<double>(raw) * s.scale;
      return 0;
    }
    case Kind::PowerVi: {
      int64_t v = 0, i = 0;
      int err = ReadTextI64(s.fd, s.path, &v);
      if (err == 0) err = ReadTextI64(s.fd2, s.path2, &i);
      if (err != 0) return err;
      *uw = static_cast<double>(v) * static_cast<double>(i) * s.scale;
      return 0;
    }
    case Kind::PowerNvml: {
      if (!s.nvml) return EBADF;
      unsigned mw = 0;
      const nvmlReturn_t rc = s.nvml->PowerMW(s.device, &mw);
      if (rc != kNvmlSuccess) return NvmlReturnToErrno(rc);
      *uw = static_cast<double>(mw) * s.scale;
      return 0;
    }
    default: return EINVAL;
  }
}

void Sampler::SampleSource(Source& s, int64_t tNs) {
  if (s.IsPower()) {
    double uw = 0;
    const int err = ReadPowerUW(s, &uw);
    if (err != 0) {
      ++s.errors;
      s.lastErrno = err;
      s.haveBase = false;  // integrate nothing over the gap
      return;
    }
    ++s.samples;
    s.last = uw;
    if (s.haveBase && tNs > s.prevTNs) {
      // trapezoid: µW × ns / 1e6 = nJ
      AddNJ(s, (s.prevPowerUW + uw) / 2.0 * static_cast<double>(tNs - s.prevTNs) / 1e6);
    }
    s.haveBase = true;
    s.prevPowerUW = uw;
    s.prevTNs = tNs;
    return;
  }

  uint64_t raw = 0;
  const int err = ReadCounter(s, &raw);
  if (err != 0) {
    ++s.errors;
    s.lastErrno = err;
    return;  // keep the previous baseline: the next good reading covers the gap
  }
  ++s.samples;
  s.last = static_cast<double>(raw);
  if (!s.haveBase) {
    s.haveBase = true;
    s.prevCounter = raw;
    return;
  }
  const std::optional<uint64_t> delta = EnergyDelta(s.prevCounter, raw, s.maxRange);
  if (delta) {
    AddCounterDelta(s, *delta);
  } else {
    ++s.resets;  // went backwards without a plausible wrap: drop the interval
  }
  s.prevCounter = raw;
}

void Sampler::SampleLocked(int64_t tNs, double batchTNs, std::unique_ptr<Batch>* full) {
  for (Source& s : sources_) SampleSource(s, tNs);
  lastTNs_ = tNs;
  if (!hasOnBatch_ || !batch_) return;
  if (batch_->tNs.capacity() == 0) {
    batch_->tNs.reserve(batchSize_);
    batch_->energyUJ.reserve(batchSize_ * sources_.size());
  }
  batch_->tNs.push_back(batchTNs);
  for (const Source& s : sources_) batch_->energyUJ.push_back(EnergyUJ(s));
  if (batch_->tNs.size() >= batchSize_) {
    *full = std::move(batch_);
    batch_ = std::make_unique<Batch>();
  }
}

std::unique_ptr<Batch> Sampler::TakePartialBatchLocked() {
  std::unique_ptr<Batch> out = std::move(batch_);
  batch_ = std::make_unique<Batch>();
  if (!out) out = std::make_unique<Batch>();
  out->droppedBatches = dropped_.exchange(0);
  return out;
}

Napi::Value Sampler::BuildSnapshot(Napi::Env env, int64_t tNs, const std::vector<SourceState>& states) const {
  Napi::Object snap = Napi::Object::New(env);
  snap.Set("tNs", Napi::BigInt::New(env, tNs));
  Napi::Array arr = Napi::Array::New(env, states.size());
  for (size_t i = 0; i < states.size(); ++i) {
    const SourceState& st = states[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", Napi::String::New(env, sources_[i].id));
    o.Set("energyNJ", Napi::BigInt::New(env, st.energyNJ));
    o.Set("samples", Napi::Number::New(env, st.samples));
    o.Set("errors", Napi::Number::New(env, st.errors));
    o.Set("resets", Napi::Number::New(env, st.resets));
    o.Set("lastErrno", Napi::Number::New(env, st.lastErrno));
    o.Set("last", Napi::Number::New(env, st.last));
    arr.Set(static_cast<uint32_t>(i), o);
  }
  snap.Set("sources", arr);
  return snap;
}

namespace {
std::vector<SourceState> CopyStates(const std::vector<Source>& sources) {
  std::vector<SourceState> out;
  out.reserve(sources.size());
  for (const Source& s : sources) out.push_back(SourceState{s.energyNJ, s.samples, s.errors, s.resets, s.lastErrno, s.last});
  return out;
}
}  // namespace

Napi::Value Sampler::SampleAndSnapshot(Napi::Env env, std::optional<int64_t> givenTNs) {
  std::unique_ptr<Batch> full;
  std::vector<SourceState> states;
  int64_t tNs = 0;
  {
    std::lock_guard<std::mutex> lk(mu_);
    double batchTNs = 0;
    if (givenTNs) {
      tNs = *givenTNs;
      batchTNs = static_cast<double>(tNs);
    } else {
      const auto now = std::chrono::steady_clock::now();
      tNs = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
      batchTNs = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - t0_).count());
    }
    SampleLocked(tNs, batchTNs, &full);
    states = CopyStates(sources_);
  }
  if (full) Enqueue(std::move(full));
  return BuildSnapshot(env, tNs, states);
}

// ---- delivery -------------------------------------------------------------------------------------

void Sampler::Enqueue(std::unique_ptr<Batch> batch) {
  Delivery* ctx = delivery_;
  if (ctx == nullptr) {
    dropped_.fetch_add(1);
    return;
  }
  batch->droppedBatches = dropped_.exchange(0);
  ctx->outstanding.fetch_add(1);
  if (tsfn_.NonBlockingCall(batch.get()) == napi_ok) {
    batch.release();  // now owned by the queue (CallJs deletes it)
  } else {
    // Queue full (JS is behind) or closing: drop this batch and count it, never block.
    ctx->outstanding.fetch_sub(1);
    dropped_.fetch_add(batch->droppedBatches + 1);
  }
}

namespace {

void DeliverBatch(Napi::Env env, Napi::Function onBatch, const std::vector<std::string>& ids, const Batch& batch) {
  const size_t n = batch.tNs.size();
  const size_t m = ids.size();
  Napi::Object obj = Napi::Object::New(env);
  Napi::Float64Array t = Napi::Float64Array::New(env, n);
  if (n > 0) std::memcpy(t.Data(), batch.tNs.data(), n * sizeof(double));
  Napi::Object energy = Napi::Object::New(env);
  for (size_t j = 0; j < m; ++j) {
    Napi::Float64Array a = Napi::Float64Array::New(env, n);
    double* dst = a.Data();
    for (size_t i = 0; i < n; ++i) dst[i] = batch.energyUJ[i * m + j];
    energy.Set(ids[j], a);
  }
  obj.Set("tNs", t);
  obj.Set("energyUJ", energy);
  obj.Set("droppedBatches", Napi::Number::New(env, batch.droppedBatches));
  onBatch.Call(env.Undefined(), {obj});
}

}  // namespace

void Sampler::CallJs(Napi::Env env, Napi::Function onBatch, Delivery* ctx, Batch* data) {
  std::unique_ptr<Batch> batch(data);
  if (ctx == nullptr) return;
  ctx->outstanding.fetch_sub(1);
  if (env == nullptr || onBatch.IsEmpty()) return;  // env tearing down: drop

  // An exception from onBatch must not keep the stop() promise pending; rethrow it at the end.
  Napi::Value thrown;
  bool hasThrown = false;
  try {
    if (batch && (!batch->tNs.empty() || batch->droppedBatches > 0)) DeliverBatch(env, onBatch, ctx->ids, *batch);
  } catch (const Napi::Error& e) {
    thrown = e.Value();
    hasThrown = true;
  }

  if (ctx->stopPending && ctx->outstanding.load() == 0) {
    ctx->stopPending = false;
    std::unique_ptr<Batch> last;
    if (ctx->owner != nullptr) {
      std::lock_guard<std::mutex> lk(ctx->owner->mu_);
      last = ctx->owner->TakePartialBatchLocked();
    }
    try {
      if (last && (!last->tNs.empty() || last->droppedBatches > 0)) DeliverBatch(env, onBatch, ctx->ids, *last);
    } catch (const Napi::Error& e) {
      if (!hasThrown) {
        thrown = e.Value();
        hasThrown = true;
      }
    }
    std::vector<Napi::Promise::Deferred> deferreds;
    deferreds.swap(ctx->deferreds);
    for (auto& d : deferreds) d.Resolve(env.Undefined());
    if (ctx->refHeld) {
      ctx->refHeld = false;
      napi_unref_threadsafe_function(env, ctx->tsfn);
    }
  }
  if (hasThrown) throw Napi::Error(env, thrown);
}

void Sampler::FinalizeTsfn(Napi::Env env, void* /*data*/, Delivery* ctx) {
  if (ctx == nullptr) return;
  try {
    for (auto& d : ctx->deferreds) d.Resolve(env.Undefined());
  } catch (...) {
  }
  ctx->deferreds.clear();
  if (ctx->owner != nullptr) {
    ctx->owner->tsfnAlive_ = false;
    ctx->owner->delivery_ = nullptr;
  }
  delete ctx;
}

// ---- thread -----------------------------------------------------------------------------------------

void Sampler::RecordThreadCpu() {
  struct timespec ts;
  if (::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) {
    const uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
    cpuNs_.store(cpuBaseNs_ + ns, std::memory_order_relaxed);
  }
}

void Sampler::ThreadMain() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock<std::mutex> lk(mu_);
  Clock::time_point next = Clock::now();
  // CLOCK_THREAD_CPUTIME_ID is a real syscall (not vDSO): record it every ~20 ms, not every sample.
  constexpr auto kCpuRecordEvery = std::chrono::milliseconds(20);
  Clock::time_point nextCpuRecord = next;
  while (!stopRequested_) {
    const Clock::time_point now = Clock::now();
    const int64_t tNs = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    const double rel = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - t0_).count());
    std::unique_ptr<Batch> full;
    SampleLocked(tNs, rel, &full);
    if (full) {
      lk.unlock();
      Enqueue(std::move(full));
      lk.lock();
    }
    if (now >= nextCpuRecord) {
      RecordThreadCpu();
      nextCpuRecord = now + kCpuRecordEvery;
    }
    next += period_;
    const Clock::time_point after = Clock::now();
    if (next <= after) {
      // Late (descheduled, slow read): skip the missed deadlines instead of bursting to catch up.
      next += ((after - next) / period_ + 1) * period_;
    }
    cv_.wait_until(lk, next, [this] { return stopRequested_; });
  }
  RecordThreadCpu();
  cpuBaseNs_ = cpuNs_.load(std::memory_order_relaxed);
}

void Sampler::StopThread() {
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopRequested_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  running_.store(false);
  if (selfRefHeld_ && !envTearingDown_ && !inDestructor_) {
    selfRefHeld_ = false;
    Unref();
  }
}

void Sampler::OnEnvCleanup(void* arg) {
  auto* self = static_cast<Sampler*>(arg);
  self->hookRegistered_ = false;  // removed by Node after running
  self->envTearingDown_ = true;
  try {
    self->StopThread();
  } catch (...) {
  }
}

void Sampler::ReleaseTsfn() {
  if (!tsfnAlive_) return;
  tsfnAlive_ = false;
  if (delivery_ != nullptr) delivery_->owner = nullptr;
  delivery_ = nullptr;
  // At env teardown Node closes the TSFN itself; otherwise give back our (only) thread count.
  if (!envTearingDown_) tsfn_.Release();
}

void Sampler::DisposeInternal() {
  StopThread();
  if (hookRegistered_ && env_ != nullptr) {
    napi_remove_env_cleanup_hook(env_, &Sampler::OnEnvCleanup, this);
    hookRegistered_ = false;
  }
  ReleaseTsfn();
  std::lock_guard<std::mutex> lk(mu_);
  for (Source& s : sources_) {
    s.fd.Reset();
    s.fd2.Reset();
    s.nvml.reset();
    s.device = nullptr;
  }
  nvmlLibs_.clear();  // nvmlShutdown + dlclose once no source holds the library
  batch_.reset();
  disposed_ = true;
}

// ---- JS methods ---------------------------------------------------------------------------------------

void Sampler::ThrowState(Napi::Env env, int err, const char* method, const char* why) const {
  IoFailure f = IoFailure::Errno(err, method, "sampler");
  f.message = ErrnoName(err) + ": " + why + ", Sampler." + method;
  throw MakeIoError(env, f);
}

void Sampler::RequireUsable(Napi::Env env, const char* method) const {
  if (disposed_) ThrowState(env, EBADF, method, "the sampler is disposed");
}

void Sampler::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Guard(env, [&]() {
    RequireUsable(env, "start");
    if (running_.load()) ThrowState(env, EBUSY, "start", "the sampler is already running");
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopRequested_ = false;
    }
    thread_ = std::thread(&Sampler::ThreadMain, this);
    running_.store(true);
    // A running sampler stays alive (like a timer) until stop()/dispose(), even if unreferenced.
    Ref();
    selfRefHeld_ = true;
  });
}

Napi::Value Sampler::Stop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    StopThread();  // the thread never blocks on JS, so this join is short
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    if (!tsfnAlive_ || delivery_ == nullptr) {
      deferred.Resolve(env.Undefined());
      return deferred.Promise();
    }
    // Resolve once every queued batch and then the partial batch reached onBatch (FIFO queue).
    Delivery* ctx = delivery_;
    ctx->deferreds.push_back(deferred);
    ctx->stopPending = true;
    if (!ctx->refHeld) {
      tsfn_.Ref(env);  // keep the loop alive until the flush completes
      ctx->refHeld = true;
    }
    ctx->outstanding.fetch_add(1);
    if (tsfn_.NonBlockingCall(nullptr) != napi_ok) {
      // Queue full: a queued batch will run the flush. Closing: the finalizer resolves.
      ctx->outstanding.fetch_sub(1);
    }
    return deferred.Promise();
  });
}

Napi::Value Sampler::SampleNow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    RequireUsable(env, "sampleNow");
    return SampleAndSnapshot(env, std::nullopt);
  });
}

Napi::Value Sampler::Tick(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const uint64_t t = ValueBigUint64(env, info.Length() > 0 ? info[0] : env.Undefined(), "Sampler.tick: tNs");
    if (t > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) ThrowRangeError(env, "Sampler.tick: tNs must be < 2n**63n");
    RequireUsable(env, "tick");
    if (running_.load()) ThrowState(env, EBUSY, "tick", "tick() is only allowed while the sampler thread is not running");
    return SampleAndSnapshot(env, static_cast<int64_t>(t));
  });
}

Napi::Value Sampler::Snapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    std::vector<SourceState> states;
    int64_t tNs;
    {
      std::lock_guard<std::mutex> lk(mu_);
      states = CopyStates(sources_);
      tNs = lastTNs_;
    }
    return BuildSnapshot(env, tNs, states);
  });
}

Napi::Value Sampler::ThreadCpuNs(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), cpuNs_.load(std::memory_order_relaxed));
}

Napi::Value Sampler::Running(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), running_.load());
}

void Sampler::Dispose(const Napi::CallbackInfo& info) {
  Guard(info.Env(), [&]() {
    if (!disposed_) DisposeInternal();
  });
}

}  // namespace splitwatt
