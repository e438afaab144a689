/**
 * `splitwatt run` through the built CLI: a stream of PaddleOCR text-line images, pipelined and
 * serial, each result equal to the unsplit model's in input order; the summary's shape; an
 * interrupt that drains; one-line user errors.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodePng } from "../../src/model/evalset/png.js";
import { preprocessCls } from "../../src/model/evalset/preprocessCls.js";
import { clsSamples } from "../../src/model/evalset/renderLine.js";
import { resolveModel } from "../../src/model/resolveModel.js";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
let dir: string;
let want: number[];

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 180_000, env: { ...process.env, CI: "true" } });
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sw-run-"));
  const samples = clsSamples({ count: 6, seed: 3 });
  const { path } = await resolveModel("paddle:cls");
  const s = await ort.InferenceSession.create(path);
  want = [];
  for (const [i, img] of samples.entries()) {
    writeFileSync(join(dir, `line-${String(i).padStart(2, "0")}.png`), encodePng(img.rgba, img.width, img.height));
    const out = await s.run({ x: new ort.Tensor("float32", preprocessCls(img.rgba, img.width, img.height), [1, 3, 48, 192]) });
    const p = Object.values(out)[0]?.data as Float32Array;
    want.push((p[1] as number) > (p[0] as number) ? 1 : 0);
  }
  await s.release();
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("splitwatt run", () => {
  it("streams PNG text lines through the pipeline and one at a time: the same answers as the unsplit model, in input order; --json ends with the summary", () => {
    for (const mode of [["--bd", "2", "--bs", "3"], ["--serial"]]) {
      const r = cli(["run", "paddle:cls", "--stream", dir, "--split", "27", "--link", "app", "--warm-up", "1", "--json", ...mode]);
      expect(r.stderr).not.toMatch(/internal error/);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, any>);
      const results = lines.slice(0, -1);
      const s = lines[lines.length - 1] as Record<string, any>;
      expect(results.map((l) => l.input)).toEqual(want.map((_, i) => `line-${String(i).padStart(2, "0")}.png`));
      expect(results.map((l) => l.index)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(results.map((l) => l.outputs["softmax_0.tmp_0"].argmax)).toEqual(want);
      expect(Object.keys(s)).toEqual(expect.arrayContaining(["items", "seconds", "throughputPerS", "boundPerS", "stagesMs", "bd", "bs", "energyPerItemJ", "energySource"]));
      expect(s.items).toBe(6);
      expect(s.throughputPerS).toBeCloseTo(6 / s.seconds, 0);
      expect(s.boundPerS).toBeGreaterThan(0);
      for (const k of ["head", "transfer", "tail"]) expect(s.stagesMs[k]).toBeGreaterThanOrEqual(0);
      expect(s.energySource).toBe("estimate");
      expect(s.energyPerItemJ).toBeGreaterThan(0);
      if (mode[0] === "--serial") {
        expect([s.serial, s.bd, s.bs]).toEqual([true, 1, 1]);
        expect(s.boundInRunPerS).toBeNull();
      } else {
        expect([s.serial, s.bd, s.bs]).toEqual([false, 2, 3]);
        // no stream beats its slowest stage as it ran (here the link: paddle:cls at cut 27 over wifi-20mbps)
        expect(s.stagesInRunMs.head).toBeGreaterThan(0);
        expect(s.stagesInRunMs.transfer).toBe(s.stagesMs.transfer);
        expect(s.boundInRunPerS).toBeCloseTo(1000 / Math.max(s.stagesInRunMs.head, s.stagesInRunMs.transfer, s.stagesInRunMs.tail), 0);
        expect(s.throughputPerS).toBeLessThanOrEqual(1.02 * s.boundInRunPerS);
      }
    }
  }, 180_000);

  it("an interrupt stops the producer and drains: every accepted item completes, exit 130", async () => {
    const child = spawn(process.execPath, [bin, "run", "tiny_cnn", "--rate", "40", "--items", "100000", "--split", "6", "--link", "app", "--warm-up", "1", "--json"], {
      env: { ...process.env, CI: "true" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const started = new Promise<void>((res) =>
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes("run: streaming")) res();
      }),
    );
    await started;
    await new Promise((r) => setTimeout(r, 1500));
    child.kill("SIGINT");
    const code = await new Promise<number | null>((res) => child.once("exit", (c) => res(c)));
    expect(code, stderr).toBe(130);
    const s = JSON.parse(stdout.trim().split("\n").pop() as string) as Record<string, any>;
    expect(s.items).toBeGreaterThan(0);
    expect(s.items).toBeLessThan(100000);
    expect(s.notes.join(" ")).toMatch(new RegExp(`interrupted: the ${s.items} item\\(s\\) accepted before were all completed`));
  }, 120_000);

  it("bad input is one line and exit 2", () => {
    const jpg = mkdtempSync(join(tmpdir(), "sw-run-jpg-"));
    writeFileSync(join(jpg, "a.jpg"), Buffer.from([0xff, 0xd8, 0xff]));
    const cases: Array<[string[], RegExp]> = [
      [["run", "tiny_cnn", "--stream", dir, "--rate", "5", "--split", "3"], /give exactly one of --stream DIR or --rate HZ --items N/],
      [["run", "tiny_cnn", "--rate", "5", "--split", "3"], /--rate needs --items N/],
      [["run", "tiny_cnn", "--rate", "5", "--items", "3"], /give --split K .* or --front FILE/],
      [["run", "tiny_cnn", "--rate", "5", "--items", "3", "--split", "3", "--server-kind", "triton"], /--server-kind triton needs --server URL/],
      [["run", "tiny_cnn", "--rate", "5", "--items", "3", "--split", "99"], /--split 99 is out of range/],
      [["run", "paddle:cls", "--stream", jpg, "--split", "27", "--link", "none"], /a\.jpg: JPEG is not decoded here/],
    ];
    try {
      for (const [args, msg] of cases) {
        const r = cli(args);
        expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(msg);
        expect(r.stderr.trim().split("\n").filter((l) => l.startsWith("splitwatt: error"))).toHaveLength(1);
      }
    } finally {
      rmSync(jpg, { recursive: true, force: true });
    }
  }, 180_000);
});
