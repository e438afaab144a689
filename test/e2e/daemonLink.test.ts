/**
 * The daemon's bandwidth estimate on a kernel-shaped link (netns + veth + tbf, as root): the tail
 * server in its own namespace, the daemon on the device side, the tbf rate changed mid-run with
 * `tc qdisc change` (LinkEmulation.setRate). Without root (or netns / tbf) the test is skipped
 * under a name that says why; the app-shaped variant (the client's token bucket at 8 then
 * 2 Mbit/s) runs everywhere: test/unit/linkEstimator.test.ts, "follows a real shaped link".
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { seededFloats } from "../../src/runtime/verifySplit.js";
import { LinkEmulation } from "../../src/transport/linkEmulation.js";
import { liveFront, writeFront } from "../fixtures/daemonFronts.js";
import { inferJson, startChild, type Child } from "../fixtures/daemonProcess.js";

const kernel = await LinkEmulation.available();
const children: Child[] = [];
const links: LinkEmulation[] = [];
const dir = mkdtempSync(join(tmpdir(), "sw-daemon-link-"));

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
  for (const l of links) await l.close();
  rmSync(dir, { recursive: true, force: true });
});

const title = kernel.ok
  ? "the bandwidth estimate follows a kernel-shaped link whose tbf rate changes mid-run (20 -> 5 Mbit/s)"
  : `SKIPPED (kernel link emulation unavailable: ${kernel.reason}; the app-shaped variant is test/unit/linkEstimator.test.ts): the bandwidth estimate follows a kernel-shaped link whose tbf rate changes mid-run`;

describe("splitwatt daemon on an emulated link", () => {
  it.skipIf(!kernel.ok)(title, async () => {
    const tiny = await zooPath("tiny_cnn");
    const a = await analyzeModel(loadModel(tiny));
    // cut 1 sends 64 KiB: 26 ms at 20 Mbit/s, 105 ms at 5
    const remote = { split: 1, bytes: a.cuts[1]?.bytes as number };
    expect(remote.bytes).toBe(65536);
    const front = writeFront(dir, "link.pareto.json", liveFront({ sha256: a.model.sha256, lastCut: a.cuts.length - 1, remote: [remote] }));
    const link = await LinkEmulation.start({ uplinkMbps: 20, downlinkMbps: 20, name: "daemon" });
    links.push(link);
    const env = { SPLITWATT_STATE_DIR: join(dir, "state") };
    const s = await startChild(["serve", "--model", "model=tiny_cnn", "--host", link.serverAddress, "--port", "0"], { prefix: link.execPrefix, env });
    children.push(s);
    const cfg = join(dir, "link.yaml");
    writeFileSync(cfg, "estimator: { window: 5 }\nprobe: { rttIntervalMs: 300 }\n");
    const d = await startChild(["daemon", "--model", "tiny_cnn", "--port", "0", "--front", front, "--server", s.url, "--config", cfg], { env });
    children.push(d);
    const x = { name: "input", shape: [1, 3, 32, 32], data: seededFloats(3072, 2) };
    const estimate = async (): Promise<number> => ((await (await fetch(`${d.url}/v1/status`)).json()) as { server: { estimates: { bandwidthMbps: number } } }).server.estimates.bandwidthMbps;
    const phase = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const r = await inferJson(d.url, "tiny_cnn", x, { deadline_ms: 3000 });
        expect(r.status).toBe(200);
        expect(r.body.parameters).toMatchObject({ fallback: false });
        expect(JSON.parse(r.body.parameters?.config as string).split).toBe(1);
      }
    };
    await phase(10);
    const fast = await estimate();
    await link.setRate({ uplinkMbps: 5 });
    await phase(10);
    const slow = await estimate();
    process.stdout.write(`daemon bandwidth estimate: ${fast.toFixed(1)} Mbit/s on tbf 20, ${slow.toFixed(1)} Mbit/s after tc qdisc change to 5\n`);
    // TCP and HTTP overhead (and a busy machine) add to the payload's time: the estimate sits near the shaped rate, a little under
    expect(fast).toBeGreaterThan(20 * 0.5);
    expect(fast).toBeLessThan(20 * 1.2);
    expect(slow).toBeGreaterThan(5 * 0.5);
    expect(slow).toBeLessThan(5 * 1.2);
    expect(slow).toBeLessThan(fast / 2);
    const m = await (await fetch(`${d.url}/metrics`)).text();
    expect(Number(/^splitwatt_daemon_bandwidth_estimate_bytes_per_second (\S+)/m.exec(m)?.[1])).toBeCloseTo((slow * 1e6) / 8, -3);
    await d.stop();
    await s.stop();
  }, 120_000);
});
