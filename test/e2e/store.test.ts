/**
 * The measurement store knows its testbed, and `splitwatt store` manages it, through the built
 * CLI: a --server run after a local one (and a second server after the first) measures afresh, so
 * do another energy source and another board profile; records stored before the testbed was
 * keyed stay readable and are not reused; list, export (DynaSplit CSV), import and clear, and
 * their bad input as one line with exit 2.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { measurementKey, type Measurement } from "../../src/contracts/measurement.js";
import { acpiCpufreqUserspace } from "../fixtures/boards.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
const vggPool = fileURLToPath(new URL("../../../shared/data/dynasplit/simulation_pool_vgg16.csv", import.meta.url));
const dirs: string[] = [];
const servers: ChildProcess[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), "sw-store-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const s of servers) if (s.exitCode === null) s.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000, maxBuffer: 64 << 20, env: { ...process.env, CI: "true", ...env } });
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}
const json = (r: { code: number | null; stdout: string; stderr: string }): Record<string, any> => {
  expect(r.stderr).not.toMatch(/internal error/);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, any>;
};
/** a user error: one line, exit 2, matching `re` */
const userError = (r: { code: number | null; stderr: string }, re: RegExp): void => {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(re);
};
const records = (file: string): Measurement[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Measurement);

const QUICK = ["--min-runs", "3", "--max-seconds", "1", "--warm-up", "1", "--idle-ms", "0", "--no-accuracy", "--json"];

/** A real `splitwatt serve` of tiny_cnn on loopback; its URL. */
async function serve(): Promise<string> {
  const child = spawn(process.execPath, [bin, "serve", "--model", "model=tiny_cnn", "--port", "0", "--exit-with-stdin"], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, CI: "true" } });
  servers.push(child);
  return new Promise((done, fail) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) done(out.split("\n")[0]?.trim() as string);
    });
    child.once("exit", (code) => fail(new Error(`serve exited (${code})`)));
  });
}

describe("the store is keyed by testbed", () => {
  it("a --server run after a local one measures afresh, a second server too; each is then reused, the local record is not overwritten", async () => {
    const d = tmp();
    const store = join(d, "m.jsonl");
    const env = { SPLITWATT_STATE_DIR: d };
    const measure = (extra: string[] = []) => json(cli(["measure", "tiny_cnn", "--cut", "6", "--store", store, ...QUICK, ...extra], env));
    const local = measure();
    expect(local.cached).toBe(false);
    const [url1, url2] = await Promise.all([serve(), serve()]);
    const remote = measure(["--server", url1 as string]);
    expect(remote.cached, "the local figures were returned for a --server run").toBe(false);
    expect(local.testbed).toMatchObject({ server: "local", network: "wifi-20mbps", board: expect.any(String), deviceEnergy: "estimate", serverEnergy: "marginal@generic-x86" });
    expect(["kernel", "app"]).toContain(local.testbed.link);
    expect(remote.testbed).toMatchObject({ server: url1, link: "real" });
    expect(remote.conditions.server).toBe(url1);
    expect(remote.notes.join("\n")).toMatch(new RegExp(`the store holds this configuration on this host made on another testbed \\(server local, here ${url1}; link ${local.testbed.link}, here real\\): not reused here`));
    expect(measure(["--server", url1 as string]).cached).toBe(true);
    // the same server written another way is the same testbed
    expect(measure(["--server", `${url1}/`]).cached).toBe(true);
    const second = measure(["--server", url2 as string]);
    expect(second.cached).toBe(false);
    expect(second.testbed.server).toBe(url2);
    // the local measurement is still the one returned locally
    const again = measure();
    expect(again.cached).toBe(true);
    expect(again.latencyMs.mean).toBe(local.latencyMs.mean);
    expect(records(store).map((m) => m.testbed?.server)).toEqual(["local", url1, url2]);
  }, 180_000);

  it("the device energy source and the board profile are part of the testbed: a meter or another board after the estimate measures afresh", () => {
    const d = tmp();
    const store = join(d, "m.jsonl");
    const env = { SPLITWATT_STATE_DIR: d };
    // all on the device: no server needed
    const measure = (extra: string[] = []) => json(cli(["measure", "tiny_cnn", "--cut", "14", "--network", "none", "--store", store, ...QUICK, ...extra], env));
    const est = measure();
    expect(est.energySource.device).toBe("estimate");
    const metered = measure(["--meter", "cmd:while :; do echo 4.5; sleep 0.02; done", "--meter-period-ms", "20"]);
    expect(metered.cached, "the estimate was returned for a metered run").toBe(false);
    expect(metered.energySource.device).toBe("meter");
    expect(metered.testbed.deviceEnergy).toBe("meter:cmd:while :; do echo 4.5; sleep 0.02; done");
    const board = measure(["--board", "raspberry-pi-4"]);
    expect(board.cached).toBe(false);
    expect(board.testbed.board).toBe("raspberry-pi-4");
    expect(measure().cached).toBe(true);
    expect(records(store)).toHaveLength(3);

    // a record stored before the testbed was keyed: readable, listed under testbed none, not reused, said so
    const old = { ...records(store)[0] } as Measurement;
    delete old.testbed;
    old.key = measurementKey(old.config, old.host.name, old.model.sha256);
    const oldStore = join(d, "old.jsonl");
    writeFileSync(oldStore, `${JSON.stringify(old)}\n`);
    const listed = cli(["store", "list", "--store", oldStore]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stderr).toBe("");
    expect(listed.stdout).toMatch(/testbed none \(not recorded/);
    const fresh = json(cli(["measure", "tiny_cnn", "--cut", "14", "--network", "none", "--store", oldStore, ...QUICK], env));
    expect(fresh.cached).toBe(false);
    expect(fresh.notes.join("\n")).toMatch(/another testbed \(not recorded: stored before splitwatt keyed measurements by testbed\)/);
    expect(records(oldStore)).toHaveLength(2);
  }, 180_000);
});

describe("splitwatt store", () => {
  /** a store with two live records (link kernel|app and link none) of tiny_cnn */
  function liveStore(d: string): string {
    const store = join(d, "m.jsonl");
    const env = { SPLITWATT_STATE_DIR: d };
    json(cli(["measure", "tiny_cnn", "--cut", "14", "--store", store, ...QUICK, "--network", "none"], env));
    json(cli(["measure", "tiny_cnn", "--cut", "14", "--store", store, ...QUICK, "--link", "app"], env));
    return store;
  }

  it("list: by host, model and testbed, filters, --json; import a DynaSplit pool and export it again byte for byte; clear asks, or --yes", () => {
    const d = tmp();
    const store = liveStore(d);
    const l = cli(["store", "list", "--store", store]);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toMatch(/m\.jsonl: 2 configuration\(s\), 2 record\(s\)/);
    expect(l.stdout).toMatch(/^tiny_cnn \(sha256 [0-9a-f]{12}\) on host .+: 1 configuration\(s\)$/m);
    expect(l.stdout).toMatch(/testbed server=local,network=none,link=none,board=/);
    expect(l.stdout).toMatch(/testbed server=local,network=wifi-20mbps,link=app,board=/);
    const j = json(cli(["store", "list", "--store", store, "--json", "--testbed", "link=app"]));
    expect(j.configurations).toBe(1);
    expect(j.measurements[0].testbed.link).toBe("app");
    expect(j.measurements[0].runs).toBe(1);
    const sha = j.measurements[0].model.sha256 as string;
    expect(json(cli(["store", "list", "--store", store, "--json", "--model", sha.slice(0, 10)])).configurations).toBe(2);
    expect(json(cli(["store", "list", "--store", store, "--json", "--model", "tiny_cnn", "--host", "nosuchhost"])).configurations).toBe(0);

    // a published pool: imported, listed apart, exported again as it was
    const imp = cli(["store", "import", vggPool, "--store", store, "--model", "vgg16"]);
    expect(imp.code, imp.stderr).toBe(0);
    const poolRows = readFileSync(vggPool, "utf8").trim().split("\n").length - 1;
    expect(imp.stdout).toMatch(new RegExp(`imported ${poolRows} record\\(s\\)`));
    expect(cli(["store", "import", vggPool, "--store", store, "--model", "vgg16"]).stdout).toMatch(new RegExp(`imported 0 record\\(s\\) .*\\(${poolRows} already there`));
    const vgg = json(cli(["store", "list", "--store", store, "--json", "--model", "vgg16"]));
    expect(vgg.records).toBe(poolRows);
    expect(vgg.measurements[0].host.name).toBe("imported");
    expect(vgg.measurements[0].testbed).toBeUndefined();
    const csv = join(d, "out", "vgg16.csv");
    const ex = cli(["store", "export", "--store", store, "--model", "vgg16", "--dynasplit-csv", csv]);
    expect(ex.code, ex.stderr).toBe(0);
    expect(readFileSync(csv, "utf8")).toBe(readFileSync(vggPool, "utf8"));

    // clear: asks (no terminal here: refuses), then --yes removes only the selection
    const before = readFileSync(store, "utf8");
    userError(cli(["store", "clear", "--store", store, "--model", "vgg16"]), /store clear would remove \d+ record\(s\) .*: give --yes to confirm/);
    expect(readFileSync(store, "utf8")).toBe(before);
    const cl = cli(["store", "clear", "--store", store, "--model", "vgg16", "--yes"]);
    expect(cl.code, cl.stderr).toBe(0);
    expect(cl.stdout).toMatch(new RegExp(`removed ${poolRows} record\\(s\\); 2 left`));
    expect(readFileSync(store, "utf8")).toBe(before.split("\n").slice(0, 2).join("\n") + "\n");
    expect(cli(["store", "clear", "--store", store, "--testbed", "link=none", "--yes"]).stdout).toMatch(/removed 1 record\(s\); 1 left/);
    expect(records(store).map((m) => m.testbed?.link)).toEqual(["app"]);
    // --host: another host's records are not touched; this host's are
    const host = j.measurements[0].host.name as string;
    expect(cli(["store", "clear", "--store", store, "--host", "nosuchhost", "--yes"]).stdout).toMatch(/nothing to remove: no record of .* matches/);
    expect(records(store)).toHaveLength(1);
    expect(cli(["store", "clear", "--store", store, "--host", host, "--model", "tiny_cnn", "--yes"]).stdout).toMatch(/removed 1 record\(s\); 0 left/);
    expect(records(store)).toEqual([]);
  }, 180_000);

  it("import another store's records (again: nothing added); export live records measured at a set frequency (fake cpufreq) as DynaSplit rows", () => {
    const t = FakeTree.create();
    acpiCpufreqUserspace(t);
    try {
      const d = tmp();
      const env = { SPLITWATT_STATE_DIR: d, SPLITWATT_SYSFS_ROOT: t.sysfsRoot };
      const other = join(d, "other.jsonl");
      for (const f of ["1000", "2000"]) json(cli(["measure", "tiny_cnn", "--cut", "14", "--freq-mhz", f, "--network", "none", "--store", other, ...QUICK], env));
      const store = join(d, "m.jsonl");
      expect(cli(["store", "import", other, "--store", store]).stdout).toMatch(/imported 2 record\(s\)/);
      expect(cli(["store", "import", other, "--store", store]).stdout).toMatch(/imported 0 record\(s\) .*\(2 already there/);
      expect(readFileSync(store, "utf8")).toBe(readFileSync(other, "utf8"));
      const csv = join(d, "live.csv");
      const ex = cli(["store", "export", "--store", store, "--dynasplit-csv", csv]);
      expect(ex.code, ex.stderr).toBe(0);
      expect(ex.stdout).toMatch(/wrote 2 row\(s\) of tiny_cnn \(codec raw, not a DynaSplit column\)/);
      const rows = readFileSync(csv, "utf8").trim().split("\n");
      expect(rows[0]).toBe("latency,energy,avg energy edge (J),avg latency edge (ms),avg latency cloud (ms),avg latency transfer (ms),avg energy cloud (J),avg energy cloud gpu (J),utilization cloud cpu (%),utilization cloud gpu (%),utilization edge cpu (%),tensor size (KB),cpu-freq,layer,edge-accelerator,server-accelerator");
      expect(rows.slice(1).map((r) => r.split(",").slice(-4).join(","))).toEqual(["1000.0,14.0,off,False", "2000.0,14.0,off,False"]);
      // and it reads back as a pool
      const back = join(d, "back.jsonl");
      expect(cli(["store", "import", csv, "--store", back, "--model", "tiny", "--host", "board-a"]).stdout).toMatch(/imported 2 record\(s\)/);
      expect(records(back).map((m) => m.latencyMs.mean)).toEqual(records(store).map((m) => m.latencyMs.mean));
      expect(records(back).map((m) => [m.model.name, m.host.name])).toEqual([
        ["tiny", "board-a"],
        ["tiny", "board-a"],
      ]);
    } finally {
      t.cleanup();
    }
  }, 180_000);

  it("bad input: one line, exit 2, the store untouched", () => {
    const d = tmp();
    const store = liveStore(d);
    const before = readFileSync(store, "utf8");
    userError(cli(["store", "list", "--store", join(d, "nope.jsonl")]), /no measurement store at .*nope\.jsonl/);
    userError(cli(["store", "list", "--store", d]), /is a directory; give the store's \.jsonl file/);
    userError(cli(["store", "list", "--store", store, "--testbed", "speed=fast"]), /--testbed: unknown field "speed"/);
    userError(cli(["store", "list", "--store", store, "--testbed", "link"]), /--testbed "link": give KEY=VALUE pairs/);
    // live records measured at the current (uncontrolled) frequency have no cpu-freq figure
    userError(cli(["store", "export", "--store", store, "--testbed", "link=none", "--dynasplit-csv", join(d, "x.csv")]), /fits DynaSplit's columns: cpuFreqMHz is "current"/);
    userError(cli(["store", "export", "--store", store, "--dynasplit-csv", join(d, "x.csv")]), /the selection holds 2 testbeds .*: choose one with --host and --testbed/);
    userError(cli(["store", "export", "--store", store, "--dynasplit-csv", store]), /exists: remove it or give another file/);
    userError(cli(["store", "export", "--store", store, "--model", "vgg16", "--dynasplit-csv", join(d, "x.csv")]), /no record of .* matches --model vgg16/);
    userError(cli(["store", "export", "--store", store]), /--dynasplit-csv/);
    userError(cli(["store", "frob", "--store", store]), /unknown command 'frob'/);
    userError(cli(["store", "import", "--store", store]), /missing required argument 'file'/);
    userError(cli(["store", "clear", "--store", store, "--everything"]), /unknown option '--everything'/);
    // an import that does not read: nothing imported
    const bad = join(d, "bad.jsonl");
    const lines = before.trim().split("\n");
    const broken = { ...JSON.parse(lines[1] as string), key: "not-its-key" };
    writeFileSync(bad, `${lines[0]}\n${JSON.stringify(broken)}\n`);
    userError(cli(["store", "import", bad, "--store", store]), /bad\.jsonl line 2: invalid record \(key "not-its-key" does not match .*\): fix or remove that line; nothing was imported/);
    const badCsv = join(d, "bad.csv");
    const pool = readFileSync(vggPool, "utf8").split("\n");
    writeFileSync(badCsv, [pool[0], (pool[1] as string).replace(/^([^,]*),([^,]*),/, "$1,-5,"), ""].join("\n"));
    userError(cli(["store", "import", badCsv, "--store", store]), /bad\.csv line 2: column "latency" is "-5", expected a number >= 0/);
    userError(cli(["store", "import", join(d, "missing.csv"), "--store", store]), /cannot read .*missing\.csv \(ENOENT\)/);
    writeFileSync(join(d, "empty.csv"), "");
    userError(cli(["store", "import", join(d, "empty.csv"), "--store", store]), /is empty/);
    userError(cli(["store", "import", join(d, "missing.csv"), "--store", "/proc/nope/m.jsonl"]), /cannot read|pseudo|proc/);
    expect(readFileSync(store, "utf8")).toBe(before);
    // a store that is not one
    const junk = join(d, "junk.jsonl");
    copyFileSync(vggPool, junk);
    const jl = cli(["store", "list", "--store", junk]);
    expect(jl.code).toBe(0);
    expect(jl.stdout).toMatch(/0 configuration\(s\)/);
    expect(jl.stderr.trim().split("\n").length).toBeGreaterThan(0);
    expect(jl.stderr).toMatch(/warning: measurement store line 1: not valid JSON, skipped/);
    expect(existsSync(join(d, "x.csv"))).toBe(false);
  }, 180_000);
});
