import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { daemonConfigFileSchema, readDaemonConfig, resolveDaemonOptions } from "../../src/contracts/daemonConfig.js";

const example = resolve(import.meta.dirname, "../../configs/daemon.example.yaml");

function caught(f: () => unknown): Error & { exitCode?: number } {
  try {
    f();
  } catch (e) {
    return e as Error & { exitCode?: number };
  }
  throw new Error("expected an error");
}

describe("daemon config files and options", () => {
  it("the annotated example in configs/ is valid, its paths resolved against its directory, and every key it sets is a schema key", () => {
    const c = readDaemonConfig(example);
    expect(c.front).toBe(resolve(dirname(example), "../paddle_cls.pareto.json"));
    expect(c.model).toBe("paddle:cls");
    expect(c).toMatchObject({ host: "127.0.0.1", port: 8001, policy: "splitwatt", onInfeasible: "run-fastest", graceMs: 1000, queue: { maxQueued: 64 }, cpufreq: "auto" });
    expect(c.policyOptions).toMatchObject({ target: 0.99, hysteresis: 0.05 });
    expect(c.localRuns).toEqual({ window: 30, minSamples: 10, freshMs: 60_000 });
    expect(resolveDaemonOptions({ front: "f.json", model: "tiny_cnn", localRuns: false }).localRuns).toBe(false);
    expect(c).toMatchObject({ serverKind: "splitwatt", stream: { tailConcurrency: 4, batchDelayMs: 0, adaptiveBatch: false, maxStreams: 4 } });
    // the commented-out keys are keys of the schema too (a typo in the example would mislead)
    const keys = Object.keys(daemonConfigFileSchema.shape);
    const commented = [...readFileSync(example, "utf8").matchAll(/^# ([a-zA-Z]+):/gm)].map((m) => m[1]);
    expect(commented.length).toBeGreaterThan(5);
    for (const k of commented) expect(keys).toContain(k);
  });

  it("defaults < file < command line, validated once: what the file sets wins over the defaults, the command line over both", () => {
    const file = readDaemonConfig(example);
    const o = resolveDaemonOptions({ ...file, port: 9100 });
    expect(o.port).toBe(9100);
    expect(o.host).toBe("127.0.0.1");
    expect(resolveDaemonOptions({ front: "f.json", model: "tiny_cnn" })).toMatchObject({ port: 8001, serverModel: "model", graceMs: 1000, queue: { maxQueued: 64 }, policyOptions: {}, breaker: {}, logRequests: false, utilisation: "system", inlineHeadMs: 1 });
    expect(resolveDaemonOptions({ front: "f.json", model: "tiny_cnn", queue: {} }).queue.maxQueued).toBe(64);
  });

  it("unknown keys, wrong types, bad YAML and a missing front are one-line user errors naming the field", () => {
    const d = mkdtempSync(join(tmpdir(), "sw-dcfg-"));
    const cases: Array<[string, RegExp]> = [
      ["front: f.json\nprot: 3\n", /prot/],
      ["front: f.json\nport: 70000\n", /port/],
      ["front: f.json\nonInfeasible: maybe\n", /onInfeasible is run-fastest or reject/],
      ["front: f.json\npolicyOptions: { target: 2 }\n", /policyOptions\.target: target is a probability/],
      ["front: f.json\nqueue: { maxQueued: -1 }\n", /queue\.maxQueued/],
      ["front: [unclosed\n", /not valid YAML/],
      ["front: !!js/function x\n", /unknown YAML tag/],
      ["server: not a url\n", /server must be a URL/],
      ["inlineHeadMs: -1\n", /inlineHeadMs must be >= 0/],
      ["localRuns: { window: 5, minSamples: 8 }\n", /localRuns\.minSamples must be at most localRuns\.window/],
      ["localRuns: true\n", /localRuns is false or \{ window, minSamples, freshMs \}/],
    ];
    cases.forEach(([text, re], i) => {
      const f = join(d, `c${i}.yaml`);
      writeFileSync(f, text);
      const e = caught(() => readDaemonConfig(f));
      expect(e.message).toMatch(re);
      expect(e.message).not.toContain("\n");
      expect(e.exitCode).toBe(2);
    });
    expect(caught(() => resolveDaemonOptions({ model: "x" })).message).toMatch(/give --front/);
    expect(caught(() => resolveDaemonOptions({ front: "f", model: "x", tlsCert: "c.pem" })).message).toMatch(/both tlsCert and tlsKey/);
    expect(caught(() => resolveDaemonOptions({ front: "f", model: "x", defaultDeadlineMs: -5 })).message).toMatch(/defaultDeadlineMs must be a positive number/);
    expect(caught(() => readDaemonConfig(join(d, "missing.yaml"))).message).toMatch(/cannot read .*missing\.yaml \(ENOENT\)/);
  });
});
