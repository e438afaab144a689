import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { hwCommand } from "./hw.js";
import { inspectCommand } from "./inspect.js";
import { splitCommand } from "./split.js";
import { zooCommand } from "./zoo.js";
import { serveCommand } from "./serve.js";
import { exportTritonCommand } from "./exportTriton.js";
import { optimizeCommand } from "./optimize.js";
import { measureCommand } from "./measure.js";
import { decideCommand } from "./decide.js";
import { storeCommand } from "./store.js";
import { runStreamCommand } from "./runStream.js";
import { daemonCommand } from "./daemon.js";
import { workloadCommand } from "./workload.js";
import { reportCommand } from "./report.js";
import { benchCommand } from "./bench.js";

function version(): string {
  const pkg = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "..", "package.json"), "utf8")) as { version: string };
  return pkg.version;
}

export function program(): Command {
  const p = new Command("splitwatt")
    .description("Energy-aware split inference for edge devices: find and run the lowest-energy split that meets each deadline.")
    .version(version(), "-V, --version")
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`splitwatt: error[E_USAGE]: ${str.replace(/^error: /, "").trimEnd()} (see --help)\n`) });
  p.addCommand(hwCommand());
  p.addCommand(inspectCommand());
  p.addCommand(splitCommand());
  p.addCommand(zooCommand());
  p.addCommand(serveCommand());
  p.addCommand(exportTritonCommand());
  p.addCommand(optimizeCommand());
  p.addCommand(measureCommand());
  p.addCommand(decideCommand());
  p.addCommand(storeCommand());
  p.addCommand(runStreamCommand());
  p.addCommand(daemonCommand());
  p.addCommand(workloadCommand());
  p.addCommand(benchCommand());
  p.addCommand(reportCommand());
  // addCommand() does not pass settings down: give every subcommand the same error handling.
  const inherit = (c: Command): void => {
    for (const sub of c.commands) {
      sub.copyInheritedSettings(c);
      inherit(sub);
    }
  };
  inherit(p);
  return p;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; parse errors were already printed on one line.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    throw err;
  }
}
