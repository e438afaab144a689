/**
 * The configuration of the daemon's pipeline endpoints (src/schedule/daemon/streamChoice.ts):
 * the front's highest throughput among what the daemon can run, or the stream options' cut, the
 * batch sizes from the options or the configuration, and one-line refusals.
 */
import { describe, expect, it } from "vitest";
import { resolveDaemonOptions } from "../../src/contracts/daemonConfig.js";
import { streamChoice } from "../../src/schedule/daemon/streamChoice.js";
import { liveFront } from "../fixtures/daemonFronts.js";

const L = 9;
const doc = (spec: Partial<Parameters<typeof liveFront>[0]> = {}) => liveFront({ sha256: "ab".repeat(32), lastCut: L, remote: [{ split: 3, bytes: 16384 }], ...spec });
const opts = (stream: Record<string, unknown> = {}) => resolveDaemonOptions({ front: "f.json", model: "m", stream });
const caught = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
};

describe("stream configuration", () => {
  it("the front's highest throughput (measured, else 1000 / mean latency) among what can run: the remote cut only with a server", () => {
    // the remote entry measured at 1000 items/s beats the all-on-device one (2 ms: 500/s)
    const fast = doc({ throughputPerS: 1000 });
    expect(streamChoice(fast, opts(), { lastCut: L, hasServer: true, serverCodec: null })).toMatchObject({ config: { split: 3 }, deviceBatch: 1, serverBatch: 1, tailConcurrency: 4, batchDelayMs: 0, adaptiveBoundMs: null, maxStreams: 4 });
    expect(streamChoice(fast, opts(), { lastCut: L, hasServer: false, serverCodec: null }).config.split).toBe(L);
    // without a measured throughput the remote one (about 9.8 ms) loses to 2 ms on the device
    expect(streamChoice(doc(), opts(), { lastCut: L, hasServer: true, serverCodec: null }).config.split).toBe(L);
  });

  it("the options' cut, codec and batch sizes win; the configuration's batch dimensions otherwise", () => {
    const c = streamChoice(doc(), opts({ split: 3, deviceBatch: 4, serverBatch: 2, tailConcurrency: 3, batchDelayMs: 5, adaptiveBatch: true, latencyBoundMs: 50, codec: "fp16" }), { lastCut: L, hasServer: true, serverCodec: null });
    expect(c).toMatchObject({ config: { split: 3, codec: { codec: "fp16" } }, deviceBatch: 4, serverBatch: 2, tailConcurrency: 3, batchDelayMs: 5, adaptiveBoundMs: 50 });
    const batched = doc({ throughputPerS: 1000 });
    const e = batched.archive.find((x) => x.config.split === 3);
    if (e === undefined) throw new Error("no remote entry");
    e.config = { ...e.config, deviceBatch: 4, serverBatch: 8 };
    batched.front = batched.archive;
    expect(streamChoice(batched, opts(), { lastCut: L, hasServer: true, serverCodec: null })).toMatchObject({ deviceBatch: 4, serverBatch: 8 });
    expect(streamChoice(doc(), opts({ adaptiveBatch: true }), { lastCut: L, hasServer: true, serverCodec: null }).adaptiveBoundMs).toBe(Number.POSITIVE_INFINITY);
  });

  it("refuses in one line: a cut the front lacks, a remote cut without a server, a codec a Triton tail was not exported with, a bad option", () => {
    expect(caught(() => streamChoice(doc(), opts({ split: 5 }), { lastCut: L, hasServer: true, serverCodec: null })).message).toMatch(/stream\.split 5: the front has no configuration there \(its cuts: 3, 9\)/);
    expect(caught(() => streamChoice(doc(), opts({ split: 3 }), { lastCut: L, hasServer: false, serverCodec: null })).message).toMatch(/stream\.split 3 sends its tail to a server, and this daemon has none: give --server/);
    const int8 = () => ({ codec: "int8" as const, compression: "none" as const });
    expect(caught(() => streamChoice(doc({ throughputPerS: 1000 }), opts({ codec: "fp16" }), { lastCut: L, hasServer: true, serverCodec: int8 })).message).toMatch(/the Triton\/KServe tail of cut 3 takes int8/);
    expect(caught(() => streamChoice(doc(), opts({ split: 3, codec: "int9" }), { lastCut: L, hasServer: true, serverCodec: null })).message).toMatch(/int9/);
    expect(caught(() => opts({ deviceBatch: 0 })).message).toMatch(/stream\.deviceBatch/);
    expect(caught(() => opts({ batchSize: 2 })).message).toMatch(/stream/);
  });
});
