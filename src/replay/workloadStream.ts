/**
 * A deadline workload read as a stream of request batches (a workload may hold millions of
 * rows: it is never held whole). Keeps the rows of `network` when given; without it, a
 * workload whose rows name more than one network is refused (its deadlines are for different
 * models). Requests without an ArrivalMs column arrive `intervalMs` apart.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { csvFields, workloadColumns, workloadRow, type WorkloadColumns, type WorkloadRequest } from "../contracts/workloadCsv.js";
import { MalformedError, SplitwattError, UsageError } from "../errors.js";

export interface TimedRequest extends WorkloadRequest {
  /** when it arrives, ms from the start */
  tMs: number;
}

export interface WorkloadSummary {
  sha256: string;
  /** rows kept */
  requests: number;
  /** every network the file names, with its row count */
  networks: Map<string, number>;
}

export interface WorkloadStreamOptions {
  network?: string | undefined;
  intervalMs: number;
  /** requests per batch */
  batch?: number;
  /** filled in when the stream ends */
  summary?: WorkloadSummary;
}

/** The workload's requests in file order, in batches. */
export async function* workloadStream(file: string, opts: WorkloadStreamOptions): AsyncGenerator<TimedRequest[]> {
  const batchSize = opts.batch ?? 4096;
  const hash = createHash("sha256");
  const networks = new Map<string, number>();
  let cols: WorkloadColumns | null = null;
  let pending = "";
  let lineNo = 0;
  let row = 0;
  let kept = 0;
  let lastArrival = 0;
  let batch: TimedRequest[] = [];
  const stream = createReadStream(file, { encoding: "utf8", highWaterMark: 1 << 20 });
  const take = (line: string): void => {
    lineNo++;
    if (cols === null) {
      cols = workloadColumns(csvFields(line.replace(/^\ufeff/, ""), file, lineNo), file);
      if (opts.network !== undefined && cols.network < 0) throw new UsageError(`workload ${file} has no Network column, so --network ${opts.network} selects nothing; drop --network`);
      return;
    }
    if (line === "" || line === "\r") return;
    const r = workloadRow(csvFields(line, file, lineNo), cols, row, file, lineNo);
    row++;
    if (r.network !== null) {
      networks.set(r.network, (networks.get(r.network) ?? 0) + 1);
      if (opts.network === undefined && networks.size > 1) {
        throw new UsageError(`workload ${file} has rows for several networks (${[...networks.keys()].join(", ")}); pass --network NAME to replay one of them`);
      }
      if (opts.network !== undefined && r.network !== opts.network) return;
    }
    const tMs = r.arrivalMs ?? kept * opts.intervalMs;
    if (r.arrivalMs !== null) {
      if (r.arrivalMs < lastArrival) throw new MalformedError(`${file} line ${lineNo}: ArrivalMs ${r.arrivalMs} is before the previous request's ${lastArrival}; sort the rows by arrival`);
      lastArrival = r.arrivalMs;
    }
    kept++;
    batch.push({ ...r, tMs });
  };
  try {
    for await (const chunk of stream) {
      hash.update(chunk as string);
      const text = pending + (chunk as string);
      let start = 0;
      for (;;) {
        const nl = text.indexOf("\n", start);
        if (nl < 0) break;
        take(text.slice(start, nl));
        start = nl + 1;
        if (batch.length >= batchSize) {
          yield batch;
          batch = [];
        }
      }
      pending = text.slice(start);
    }
  } catch (e) {
    if (e instanceof MalformedError) throw new UsageError(`${e.message}; fix the workload or write one with splitwatt workload`, { path: file, cause: e });
    if (e instanceof SplitwattError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined) throw new UsageError(`cannot read workload ${file} (${code}); give the path of a deadline trace (Index,Network,Latency CSV)`, { path: file, cause: e });
    throw e;
  } finally {
    stream.destroy();
  }
  try {
    if (pending !== "") take(pending);
  } catch (e) {
    if (e instanceof MalformedError) throw new UsageError(`${e.message}; fix the workload or write one with splitwatt workload`, { path: file, cause: e });
    throw e;
  }
  if (cols === null) throw new UsageError(`workload ${file} is empty; give a deadline trace with a header Index,Network,Latency`, { path: file });
  if (batch.length > 0) yield batch;
  if (kept === 0) {
    if (opts.network !== undefined && networks.size > 0) {
      throw new UsageError(`workload ${file} has no rows for --network ${opts.network}; its networks are ${[...networks.keys()].join(", ")}: pass one of them`, { path: file });
    }
    throw new UsageError(`workload ${file} has no requests; add rows (Index,Network,Latency)`, { path: file });
  }
  if (opts.summary !== undefined) {
    opts.summary.sha256 = hash.digest("hex");
    opts.summary.requests = kept;
    opts.summary.networks = networks;
  }
}
