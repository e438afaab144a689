/**
 * report.html in a real browser: Debian's headless Chromium (driven by playwright-core, no
 * browser download) opens the file a replayed benchmark wrote, offline, with a fresh profile.
 * Every chart must have rendered (an SVG with a real size and marks in it), the console must
 * stay free of errors and the page must request nothing but itself. A screenshot is kept in
 * test/artifacts/ (git-ignored) for a person to look at.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
const data = resolve(repo, "../shared/data/dynasplit");
const CHROMIUM = "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const dir = mkdtempSync(join(tmpdir(), "sw-report-browser-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 60_000, cwd: repo, env: { ...process.env, CI: "true" } });
  expect(r.status, r.stderr).toBe(0);
}

describe("report.html in headless Chromium", () => {
  it("every chart rendered as a non-empty SVG, no console errors, no network requests; screenshot kept", { timeout: 120_000 }, async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)`).toBe(true);
    const front = join(dir, "vgg16.pareto.json");
    cli(["optimize", "--replay", join(data, "simulation_pool_vgg16.csv"), "--budget", "60", "--out", front]);
    const bw = join(dir, "bw.csv");
    cli(["workload", "--bandwidth", "step", "--levels-mbps", "400,50,400", "--every-ms", "15000", "--out", bw]);
    const out = join(dir, "run");
    cli(["bench", "--replay", join(data, "simulation_pool_vgg16.csv"), "--workload", join(data, "network_latency_50_samples.csv"), "--network", "vgg16", "--front", front, "--bandwidth-trace", bw, "--out", out]);

    const profile = mkdtempSync(join(tmpdir(), "sw-chromium-profile-"));
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, offline: true });
    try {
      const requests: string[] = [];
      const errors: string[] = [];
      context.on("request", (r) => requests.push(r.url()));
      const page = await context.newPage();
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      page.on("pageerror", (e) => errors.push(String(e)));
      const url = pathToFileURL(join(out, "report.html")).href;
      await page.goto(url, { waitUntil: "load" });
      const charts = await page.locator("figure[data-chart]").evaluateAll((figs) =>
        figs.map((f) => {
          const svg = f.querySelector("svg");
          const box = svg?.getBoundingClientRect();
          return {
            id: f.getAttribute("data-chart"),
            width: box?.width ?? 0,
            height: box?.height ?? 0,
            marks: svg?.querySelectorAll("path, rect, line, text").length ?? 0,
            tableRows: f.parentElement?.querySelectorAll("table tr").length ?? 0,
          };
        }),
      );
      expect(charts.map((c) => c.id)).toEqual(["energy", "hit-rate", "latency-cdf", "mix-layer", "mix-cpu-freq", "mix-edge-accelerator", "mix-server-accelerator", "front", "timeline"]);
      for (const c of charts) {
        expect(c.width, c.id!).toBeGreaterThan(100);
        expect(c.height, c.id!).toBeGreaterThan(50);
        expect(c.marks, c.id!).toBeGreaterThan(20);
        expect(c.tableRows, c.id!).toBeGreaterThan(1);
      }
      expect(errors).toEqual([]);
      expect(requests).toEqual([url]);
      const artifacts = join(repo, "test/artifacts");
      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, "report.png"), fullPage: true });
      expect(existsSync(join(artifacts, "report.png"))).toBe(true);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
