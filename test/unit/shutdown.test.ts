/**
 * The one signal path (src/shutdown.ts), in child processes that run the compiled dist/: the
 * command's own clean-up first, then the teardowns newest first, the exit status of the signal;
 * a second signal or a command that does not finish stops at once; someone else's handler is
 * left to decide.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const dist = fileURLToPath(new URL("../../dist/shutdown.js", import.meta.url));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string[];
  stderr: string;
}

/** Run `body` (with `s` = the shutdown module), send `signals` once it printed "ready", collect its lines. */
async function run(body: string, signals: NodeJS.Signals[], gapMs = 100): Promise<Run> {
  expect(existsSync(dist), `${dist} is missing: run npx tsc -p tsconfig.json first`).toBe(true);
  const script = `const s = await import(${JSON.stringify(pathToFileURL(dist).href)});\nconst log = (x) => process.stdout.write(x + "\\n");\n${body}\nlog("ready");`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once("close", (code, signal) => done({ code, signal })));
  await new Promise<void>((ready) =>
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes("ready\n")) ready();
    }),
  );
  for (const sig of signals) {
    child.kill(sig);
    await new Promise((r) => setTimeout(r, gapMs));
  }
  const e = await closed;
  return { ...e, out: stdout.trim().split("\n").filter((l) => l !== "ready"), stderr };
}

describe("shutdown: the one signal path", () => {
  it("on SIGINT the command's clean-up runs first, then the teardowns newest first; the command's exit status stands", async () => {
    const r = await run(
      `s.onTeardown(() => log("teardown: cpufreq restored"));
       s.onTeardown(() => log("teardown: link removed"));
       const removed = s.onTeardown(() => log("never: released the ordinary way"));
       removed();
       const keep = setInterval(() => {}, 1000);
       s.onInterrupt((sig) => {
         log("command: " + sig + ", interruptedBy " + s.interruptedBy());
         setTimeout(() => { log("command: front written"); clearInterval(keep); process.exitCode = s.signalExitCode(sig); }, 200);
       });`,
      ["SIGINT"],
    );
    expect(r.out).toEqual(["command: SIGINT, interruptedBy SIGINT", "command: front written", "teardown: link removed", "teardown: cpufreq restored"]);
    expect(r.code).toBe(130);
    expect(r.stderr).toBe("");
  });

  it("without a command handler: teardown, one line, exit 143 for SIGTERM (129 for SIGHUP)", async () => {
    const body = `s.onTeardown(() => log("teardown")); setInterval(() => {}, 1000);`;
    const term = await run(body, ["SIGTERM"]);
    expect(term.out).toEqual(["teardown"]);
    expect(term.code).toBe(143);
    expect(term.stderr).toBe("splitwatt: interrupted by SIGTERM\n");
    expect((await run(body, ["SIGHUP"])).code).toBe(129);
  });

  it("a second signal while the command finishes stops at once, the teardowns still run", async () => {
    const r = await run(`s.onTeardown(() => log("teardown")); setInterval(() => {}, 1000); s.onInterrupt(() => log("command: stopping"));`, ["SIGINT", "SIGINT"]);
    expect(r.out).toEqual(["command: stopping", "teardown"]);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/^splitwatt: SIGINT again: stopped at once\n$/);
  });

  it("a command that does not finish within the force time is stopped", async () => {
    const t0 = performance.now();
    const r = await run(`s.setForceMs(300); s.onTeardown(() => log("teardown")); setInterval(() => {}, 1000); s.onInterrupt(() => log("command: stopping"));`, ["SIGTERM"]);
    expect(r.out).toEqual(["command: stopping", "teardown"]);
    expect(r.code).toBe(143);
    expect(r.stderr).toBe("splitwatt: SIGTERM: the command did not finish within 0.3 s: stopped at once\n");
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  it("someone else's signal handler decides (a library user's); the teardown runs when the process exits", async () => {
    const r = await run(
      `s.onTeardown(() => log("teardown"));
       const keep = setInterval(() => {}, 1000);
       process.on("SIGINT", () => { log("user handler"); setTimeout(() => { log("user exits"); process.exit(7); }, 100); });`,
      ["SIGINT"],
    );
    expect(r.out).toEqual(["user handler", "user exits", "teardown"]);
    expect(r.code).toBe(7);
  });

  it("a failing teardown does not stop the others", async () => {
    const r = await run(`s.onTeardown(() => log("first registered")); s.onTeardown(() => { throw new Error("boom"); }); setInterval(() => {}, 1000);`, ["SIGINT"]);
    expect(r.out).toEqual(["first registered"]);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/warning: clean-up failed: boom/);
  });
});
