/**
 * splitwatt's public API (package.json `main` / `types`): model surgery, the session factory
 * and split executor, the profiler, the optimizer, the cost model, the transport and the
 * contracts (schemas of the files people and programs exchange). Nothing inside src/ imports
 * this module; the benchmarks and library users do.
 */

// contracts
export {
  adaptersSchema,
  canonicalConfigKey,
  canonicalTestbedKey,
  checkMeasurement,
  onSoftwareAdapter,
  softwareAdapterLabel,
  switchCostSchema,
  webgpuAdapterSchema,
  type Adapters,
  type SwitchCost,
  type WebGpuAdapter,
  conditionsSchema,
  configSchema,
  ENERGY_SOURCES,
  measurementKey,
  measurementSchema,
  TESTBED_LINKS,
  testbedSchema,
  testbedServer,
  UNKNOWN_CONDITIONS,
  wilson95,
  type Conditions,
  type Config,
  type ConfigValue,
  type EnergySourceName,
  type Measurement,
  type Testbed,
  type TestbedLink,
} from "./contracts/measurement.js";
export {
  boundedSamples,
  checkParetoFile,
  entryOfMeasurement,
  entryOfRuns,
  MAX_LATENCY_SAMPLES,
  paretoEntrySchema,
  paretoFileSchema,
  readParetoFile,
  writeParetoFile,
  type LoadedParetoFile,
  type ParetoEntry,
  type ParetoFile,
} from "./contracts/paretoFile.js";
export { DYNASPLIT_COLUMNS, dynasplitConfigOf, exportDynasplitCsv, importDynasplitCsv, parseCsv } from "./contracts/dynasplitCsv.js";
export { OBJECTIVES, optimizeConfigSchema, readOptimizeConfig, SEARCH_ALGORITHMS, type ObjectiveName, type OptimizeConfigFile } from "./contracts/optimizeConfig.js";
export * from "./errors.js";
export { mulberry32 } from "./mulberry32.js";
export { interruptedBy, onInterrupt, onTeardown, signalExitCode, type ShutdownSignal } from "./shutdown.js";

// model surgery
export { analyzeModel, type CutOptions, type CutPoint, type ModelAnalysis } from "./model/cutPoints.js";
export { batchLayout, type BatchLayout } from "./model/batchLayout.js";
export { inputLayout, type InputLayout } from "./model/tensorShapes.js";
export { loadModel, parseModel, saveModel, serializeModel, type OnnxModel } from "./model/onnxModel.js";
export { resolveModel, type ResolvedModel } from "./model/resolveModel.js";
export { splitModel, type SplitParts } from "./model/splitModel.js";
export { zooBuild, zooList, zooPath } from "./model/zoo/zoo.js";
export { clsAccuracy, clsAccuracyOf, clsEvalSet } from "./model/evalset/index.js";

// runtime: sessions and the split executor
export { canonicalTargetName, executionTargetName, parseExecutionTarget, usesGpuAdapter, type ExecutionTarget, type TargetSide } from "./runtime/executionTarget.js";
export { cpuThreadChoices, ensureTargetAvailable, offeredTargets, targetUnavailableReason } from "./runtime/targetAvailability.js";
export { acceleratorSwitchCostMs, warmUp, type HeadWarmUp, type WarmUpTimes } from "./runtime/warmUp.js";
export { webgpuProbe, type WebGpuProbe } from "./runtime/webgpu.js";
export { modelInputs, modelInputSpecs } from "./runtime/modelInputs.js";
export { SessionCache } from "./runtime/sessionCache.js";
export { createSession, sessionOptions, type SessionPurpose, type SessionRequest } from "./runtime/sessionFactory.js";
export { rowCodec, SplitExecutor, type ExecutionResult, type HeadResult, type SplitExecutorOptions, type StageTimings, type TailSpec } from "./runtime/splitExecutor.js";
export { DeviceSession, DeviceThread, DeviceThreadError } from "./runtime/deviceThread.js";
export type { ModelSession } from "./runtime/modelSession.js";
export { Pipeline, PipelineClosedError, type PipelineOptions, type PipelineResult, type PipelineStages, type PipelineStats } from "./runtime/pipeline.js";
export {
  batchFixedBy,
  boundPerS,
  isServerFailure,
  PipelineExecutor,
  stageTimesOf,
  stageTimesPerItem,
  tailConcurrencyFor,
  type Feeds,
  type PipelineExecutorOptions,
  type StageSamples,
  type StageTimes,
  type StageTotals,
} from "./runtime/pipelineExecutor.js";
export { concatRecords, concatRows, sliceRows, splitRecord } from "./runtime/batchRows.js";
export { decodePng } from "./runtime/decodePng.js";
export { inputDirItems, listInputDir, type InputItem } from "./runtime/inputDir.js";
export { checkInputValues, inputValuesDigest, seededFloats, syntheticInputs, syntheticTensor, type InputSpec } from "./runtime/syntheticInputs.js";
export { readInputFile } from "./runtime/inputFile.js";
export { parseNpy, writeNpy, type NpyArray } from "./runtime/npy.js";
export { compareOutputs, verifySplit, type SplitCheck } from "./runtime/verifySplit.js";

// transport
export { CODEC_NAMES, codecBytesPerElement, codecName, COMPRESSIONS, decodeTensor, encodeTensor, parseCodec, type CodecSpec } from "./transport/codecs/codecs.js";
export { DEFLATE_LEVEL } from "./transport/codecs/compressPayload.js";
export { ZSTD_LEVEL } from "./transport/codecs/zstd.js";
export { chooseShaping, LinkEmulation } from "./transport/linkEmulation.js";
export { listNetworkProfiles, networkProfile, type NetworkProfile } from "./transport/networkProfile.js";
export { decodeInferRequest, decodeInferResponse, encodeInferRequest, encodeInferResponse, type OipTensor } from "./transport/oip/index.js";
export { TailClient, TailServerError, type InferResult } from "./transport/tailClient.js";
export { TailServer } from "./transport/tailServer.js";
export { TailBatcher } from "./transport/tailBatcher.js";
export { checkTritonCodec, scaleInputName, SERVER_KINDS, tritonTensors, zeroPointInputName, type ServerKind } from "./transport/tritonCodec.js";
export { exportTriton, planTriton, writeTriton, type TritonPlan } from "./transport/tritonRepository.js";

// hardware
export { boardProfile, type BoardProfile } from "./hw/boardProfile.js";
export { Cpufreq } from "./hw/cpufreq.js";
export { Gpufreq, gpuFreqSwitchCostMs, type GpuFreqDevice, type SetGpuFrequencyResult } from "./hw/gpufreq.js";
export { EnergyMeter } from "./hw/energyMeter.js";

// measurement
export { AccuracyCache } from "./measure/accuracyCache.js";
export { latencyStats } from "./measure/latencyStats.js";
export { MeasurementStore } from "./measure/measurementStore.js";
export { nodeProfile, type NodeProfile } from "./measure/nodeProfile.js";
export { Profiler, type LiveConfig, type ProfileResult, type ProfilerOptions } from "./measure/profiler.js";
export { splitAccuracy } from "./measure/splitAccuracy.js";
export { streamRun, type StreamRunOptions, type StreamRunResult } from "./measure/streamRun.js";
export { TailConnection } from "./measure/tailConnection.js";
export { LocalTailServer } from "./measure/localTailServer.js";

// the cost model
export { latencyQuantile, measuredLinkState, predict, predictCore, probabilityWithin, radioEnergyJ, transferTimeMs, type CostRecord, type LinkState, type Prediction, type PredictionCore } from "./predict/costModel.js";
export { predictFromAnchors } from "./predict/fromAnchors.js";
export { switchCostMs, type SwitchCostMs } from "./predict/switchCost.js";

// search
export { dominates } from "./search/dominance.js";
export { guidedSeeds, predictAll, predictedFront } from "./search/guidedSeeds.js";
export { hypervolume, normalizePoints } from "./search/hypervolume.js";
export { liveSpace } from "./search/liveSpace.js";
export { nonDominatedSort } from "./search/nonDominatedSort.js";
export { optimize, type OptimizeOptions, type OptimizeResult } from "./search/optimize.js";
export { paretoDocument } from "./search/paretoDocument.js";
export { poolEvaluator } from "./search/poolEvaluator.js";
export { Space } from "./search/space.js";

// schedule: online policies (pure: state and clock passed in)
export type { Decision, KnownLink, ObservedRuns, Policy, PolicyRequest, PolicyState } from "./schedule/policy.js";
export { placementOf, splitAxis, type Placement, type SplitAxis } from "./schedule/placement.js";
export {
  createPolicy,
  DEFAULT_POLICY,
  isPolicyName,
  localRunKey,
  meetProbability,
  NoCandidateError,
  normalCdf,
  parseConfigSpec,
  POLICY_NAMES,
  policyOptionsSchema,
  probabilityRule,
  samplesForTarget,
  V1_POLICIES,
  type PolicyName,
  type PolicyOptions,
  type PolicyOptionsInput,
  type ProbabilityRule,
} from "./schedule/policies/index.js";
export { LocalRuns, DEFAULT_LOCAL_RUNS, type LocalRunsOptions } from "./schedule/estimators/localRuns.js";
export { LinkEstimator, DEFAULT_LINK_ESTIMATOR, type LinkEstimate, type LinkEstimatorOptions, type ServerReport, type TransferObservation } from "./schedule/estimators/linkEstimator.js";
export { WindowedMedian, type Estimate, type StaleRule } from "./schedule/estimators/windowedMedian.js";
export { BREAKER_STATE_VALUE, CircuitBreaker, DEFAULT_BREAKER, type Admission, type BreakerSnapshot, type BreakerStateName, type CircuitBreakerOptions, type Outcome } from "./schedule/circuitBreaker.js";
export { arrivalRate, chooseBatch, DEFAULT_ADAPTIVE_BATCH, initialAdaptiveBatch, observeArrival, observeBatch, serviceModel, type AdaptiveBatchOptions, type AdaptiveBatchState } from "./schedule/adaptiveBatch.js";
export { AdaptiveBatcher } from "./schedule/adaptiveBatcher.js";
export { DEFAULT_DEVICE_QUEUE, DeviceQueue, QueueClosedError, QueueFullError, type DeviceQueueOptions, type JobOptions, type QueueStats } from "./schedule/deviceQueue.js";
export { startDaemon, type DaemonHandle, type StartDaemonOptions } from "./schedule/daemon/startDaemon.js";
export { Daemon, type DaemonHooks, type DaemonLog } from "./schedule/daemon/daemon.js";
export { defaultModelName } from "./schedule/daemon/defaultModelName.js";
export { daemonConfigFileSchema, daemonOptionsSchema, readDaemonConfig, resolveDaemonOptions, type DaemonConfigFile, type DaemonOptions, type DaemonOptionsInput } from "./contracts/daemonConfig.js";

// replay and benchmark reports
export { BENCH_RESULTS_VERSION, benchResultsSchema, checkBenchResults, readBenchResults, strategyResultSchema, writeBenchResults, type BenchResults, type SourceLabel, type StrategyResult } from "./contracts/benchResults.js";
export { mergeTraces, parseConditionsTrace, traceAt, writeConditionsTrace, type ConditionsTrace, type TracePoint } from "./contracts/conditionsTrace.js";
export { writeWorkloadCsv, type WorkloadRequest } from "./contracts/workloadCsv.js";
export { stepTrace, walkTrace } from "./replay/bandwidthTraces.js";
export { benchDocument, configurationKeys } from "./replay/benchDocument.js";
export { benchReplay, drawUniform, type BenchReplayOptions, type ReplayStrategy, type RequestSink } from "./replay/benchReplay.js";
export { PoolRuns, type RunOutcome } from "./replay/poolRuns.js";
export { QuantileSketch } from "./replay/quantileSketch.js";
export { StrategyTally } from "./replay/strategyTally.js";
export { weibullDeadlines, weibullSample } from "./replay/weibullDeadlines.js";
export { workloadStream, type TimedRequest } from "./replay/workloadStream.js";
export { energyChart, frontChart, hitRateChart, latencyCdfChart, decisionMixChart, paretoFileChart, reportCharts, timelineChart, compareChart, type ChartSpec } from "./report/chartSpecs.js";
export { renderBenchReport, renderCompareReport, renderFrontReport } from "./report/htmlReport.js";
export { renderSvg } from "./report/renderSvg.js";
export { summaryMarkdown } from "./report/summaryTable.js";
