/**
 * The human-readable outputs of a benchmark run, next to its results.json: summary.md (the
 * table to paste) and report.html (one self-contained file with the charts and tables).
 */
import { join } from "node:path";
import { writeFileAtomic, type BenchResults } from "../contracts/benchResults.js";
import { renderBenchReport } from "./htmlReport.js";
import { summaryMarkdown } from "./summaryTable.js";

export const SUMMARY_FILE = "summary.md";
export const REPORT_FILE = "report.html";

/** Write DIR/summary.md and DIR/report.html from `r`; returns their paths. */
export async function writeReport(dir: string, r: BenchResults): Promise<{ summary: string; report: string }> {
  const summary = join(dir, SUMMARY_FILE);
  const report = join(dir, REPORT_FILE);
  writeFileAtomic(summary, summaryMarkdown(r));
  writeFileAtomic(report, await renderBenchReport(r));
  return { summary, report };
}
