/**
 * A `splitwatt serve` child process on loopback (or inside a link-emulation namespace), started
 * when the profiler is given no server URL and stopped after.
 *
 * The child outlives a signal to this process's group and dies with this process:
 * - it runs in its own session and process group (`detached`), so a terminal's Ctrl-C, which
 *   goes to the whole foreground group, reaches only this process; this process's clean-up
 *   (optimize writing its front, the profiler closing) still has its server, and stops it;
 * - it stops when its stdin closes (`--exit-with-stdin`): when this process dies, even by
 *   SIGKILL, the pipe closes;
 * - a teardown hook (src/shutdown.ts) kills it when this process exits without stopping it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { IoError } from "../errors.js";
import { onTeardown } from "../shutdown.js";

export interface LocalTailServerOptions {
  /** served name -> model path */
  models: Record<string, string>;
  /** address to bind (default 127.0.0.1) */
  host?: string | undefined;
  /** execution target of the server (default cpu) */
  target?: string | undefined;
  inputShapes?: Record<string, number[]> | undefined;
  /** one item's values per input (handed over as an --input-file the child reads before it listens) */
  inputValues?: Readonly<Record<string, readonly number[]>> | undefined;
  /** names to load before listening */
  warmUp?: string[] | undefined;
  /** command prefix, e.g. ["ip", "netns", "exec", NS] to run the server in a namespace */
  execPrefix?: string[] | undefined;
  /** time to wait for the URL (default 120 s: a first tail split of a large model is slow) */
  startTimeoutMs?: number | undefined;
  maxConcurrency?: number | undefined;
  /** server-side batching (serve --max-batch / --max-queue-delay-ms) */
  maxBatch?: number | undefined;
  maxQueueDelayMs?: number | undefined;
}

/** bin/splitwatt.js of this package (src/measure and dist/measure are two levels below the root). */
export function splitwattBin(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "splitwatt.js");
}

export class LocalTailServer {
  private removeTeardown: (() => void) | null = null;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    private readonly stderrTail: () => string,
  ) {}

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** the last lines the server logged (for error messages) */
  log(): string {
    return this.stderrTail();
  }

  static async start(opts: LocalTailServerOptions): Promise<LocalTailServer> {
    // --exit-with-stdin: if this process dies, even by SIGKILL, the pipe closes and the server stops
    const args = [splitwattBin(), "serve", "--host", opts.host ?? "127.0.0.1", "--port", "0", "--target", opts.target ?? "cpu", "--exit-with-stdin"];
    for (const [name, path] of Object.entries(opts.models)) args.push("--model", `${name}=${path}`);
    for (const [name, dims] of Object.entries(opts.inputShapes ?? {})) args.push("--input-shape", `${name}=${dims.join(",")}`);
    // values go in a file (an argument may hold 128 KiB at most); the child reads it before listening
    const valuesDir = Object.keys(opts.inputValues ?? {}).length === 0 ? null : mkdtempSync(join(tmpdir(), "sw-input-values-"));
    if (valuesDir !== null) {
      writeFileSync(join(valuesDir, "values.json"), JSON.stringify(opts.inputValues));
      args.push("--input-file", join(valuesDir, "values.json"));
    }
    try {
      return await LocalTailServer.spawnChild(opts, args);
    } finally {
      if (valuesDir !== null) rmSync(valuesDir, { recursive: true, force: true });
    }
  }

  private static async spawnChild(opts: LocalTailServerOptions, args: string[]): Promise<LocalTailServer> {
    for (const w of opts.warmUp ?? []) args.push("--warm-up", w);
    if (opts.maxConcurrency !== undefined) args.push("--max-concurrency", String(opts.maxConcurrency));
    if (opts.maxBatch !== undefined) args.push("--max-batch", String(opts.maxBatch));
    if (opts.maxQueueDelayMs !== undefined) args.push("--max-queue-delay-ms", String(opts.maxQueueDelayMs));
    const prefix = opts.execPrefix ?? [];
    const [cmd, ...rest] = prefix.length > 0 ? [...prefix, process.execPath, ...args] : [process.execPath, ...args];
    const child = spawn(cmd as string, rest, { stdio: ["pipe", "pipe", "pipe"], detached: true });
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => {
      stderr = (stderr + d).slice(-4000);
    });
    const tail = (): string =>
      stderr
        .trim()
        .split("\n")
        .slice(-3)
        .join(" | ");
    const timeoutMs = opts.startTimeoutMs ?? 120_000;
    const url = await new Promise<string>((resolveUrl, reject) => {
      let out = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new IoError(`the local tail server did not start within ${timeoutMs} ms: ${tail() || "no output"}`));
      }, timeoutMs);
      child.stdout?.setEncoding("utf8");
      child.stdout?.on("data", (d: string) => {
        out += d;
        const nl = out.indexOf("\n");
        if (nl >= 0) {
          clearTimeout(timer);
          resolveUrl(out.slice(0, nl).trim());
        }
      });
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(new IoError(`cannot start the local tail server (${cmd}): ${err.message}`));
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new IoError(`the local tail server exited (${signal ?? `code ${code}`}) before listening: ${tail() || "no output"}`));
      });
    });
    child.removeAllListeners("exit");
    const server = new LocalTailServer(child, url, tail);
    server.removeTeardown = onTeardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    return server;
  }

  /** SIGTERM, then SIGKILL after `graceMs` (default 5 s). Idempotent. */
  async stop(graceMs = 5_000): Promise<void> {
    this.removeTeardown?.();
    this.removeTeardown = null;
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((done) => {
      const timer = setTimeout(() => c.kill("SIGKILL"), graceMs);
      c.once("exit", () => {
        clearTimeout(timer);
        done();
      });
      c.kill("SIGTERM");
    });
  }
}
