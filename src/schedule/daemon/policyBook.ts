/**
 * The policies a daemon answers with: the default one built at start, any other a request names
 * built on first use and kept. The switch costs the policies count are the ones the daemon
 * measured (the CPU-frequency switch's time and energy, the accelerator switch's time per
 * device target, the GPU clock change's time), each unless the options give it; a new
 * measurement rebuilds the book.
 */
import type { LoadedParetoFile } from "../../contracts/paretoFile.js";
import type { PolicyOptionsInput } from "../../contracts/policyOptions.js";
import { SplitwattError } from "../../errors.js";
import { HttpError } from "../../transport/http/httpError.js";
import { createPolicy, isPolicyName, POLICY_NAMES } from "../policies/index.js";
import type { Policy } from "../policy.js";

export class PolicyBook {
  private readonly built = new Map<string, Policy>();
  private switchCost: { timeMs: number; energyJ: number } | null = null;
  private acceleratorSwitchMs: Record<string, number> | null = null;
  private gpuFreqSwitchMs: number | null = null;
  private acceleratorFrom = "measured";

  constructor(
    private readonly file: LoadedParetoFile,
    private readonly options: PolicyOptionsInput,
  ) {}

  /** Whether the options fix the switch cost (then measurements do not replace it). */
  get switchCostGiven(): boolean {
    return this.options.switchCost !== undefined;
  }

  /** The switch cost the policies use now. */
  get currentSwitchCost(): { timeMs: number; energyJ: number } {
    return this.options.switchCost ?? this.switchCost ?? { timeMs: 0, energyJ: 0 };
  }

  /** Use a measured switch cost from now on (ignored when the options give one). */
  setSwitchCost(cost: { timeMs: number; energyJ: number }): void {
    if (this.switchCostGiven) return;
    this.switchCost = cost;
    this.built.clear();
  }

  /**
   * Use measured accelerator switch times (per target, merged over earlier ones) and GPU clock
   * change time from now on; what the options give is kept. Returns whether anything changed.
   */
  setSwitchTimes(m: { acceleratorSwitchMs?: Record<string, number> | undefined; gpuFreqSwitchMs?: number | undefined }, acceleratorFrom = "measured"): boolean {
    let changed = false;
    if (m.acceleratorSwitchMs !== undefined && this.options.acceleratorSwitchMs === undefined) {
      this.acceleratorSwitchMs = { ...this.acceleratorSwitchMs, ...m.acceleratorSwitchMs };
      this.acceleratorFrom = acceleratorFrom;
      changed = true;
    }
    if (m.gpuFreqSwitchMs !== undefined && this.options.gpuFreqSwitchMs === undefined) {
      this.gpuFreqSwitchMs = m.gpuFreqSwitchMs;
      changed = true;
    }
    if (changed) this.built.clear();
    return changed;
  }

  /** The accelerator and GPU-clock switch times the policies use now and where they come from (null: the pareto file's figures). */
  get currentSwitchTimes(): { acceleratorSwitchMs: Record<string, number> | null; gpuFreqSwitchMs: number | null; from: { accelerator: string; gpuFreq: string } } {
    const a = this.options.acceleratorSwitchMs ?? this.acceleratorSwitchMs;
    const g = this.options.gpuFreqSwitchMs ?? this.gpuFreqSwitchMs;
    const from = (given: boolean, measured: boolean, label = "measured"): string => (given ? "options" : measured ? label : "pareto file");
    return {
      acceleratorSwitchMs: a === null ? null : { ...a },
      gpuFreqSwitchMs: g,
      from: {
        accelerator: from(this.options.acceleratorSwitchMs !== undefined, this.acceleratorSwitchMs !== null, this.acceleratorFrom),
        gpuFreq: from(this.options.gpuFreqSwitchMs !== undefined, this.gpuFreqSwitchMs !== null),
      },
    };
  }

  /** Build `name` now (a one-line UsageError when it cannot be: for the default policy at start). */
  build(name: string): Policy {
    let p = this.built.get(name);
    if (p === undefined) {
      p = createPolicy(name, this.file, {
        ...this.options,
        ...(this.switchCostGiven || this.switchCost === null ? {} : { switchCost: this.switchCost }),
        ...(this.options.acceleratorSwitchMs !== undefined || this.acceleratorSwitchMs === null ? {} : { acceleratorSwitchMs: this.acceleratorSwitchMs }),
        ...(this.options.gpuFreqSwitchMs !== undefined || this.gpuFreqSwitchMs === null ? {} : { gpuFreqSwitchMs: this.gpuFreqSwitchMs }),
      });
      this.built.set(name, p);
    }
    return p;
  }

  /** The policy a request names; a 400 saying what to send for a name that is unknown or cannot serve this front. */
  get(name: string): Policy {
    if (!isPolicyName(name)) throw new HttpError(400, `unknown policy "${name}": send one of ${POLICY_NAMES.join(", ")}, or leave policy out for the daemon's default`);
    try {
      return this.build(name);
    } catch (err) {
      if (err instanceof SplitwattError) throw new HttpError(400, `policy ${name} cannot serve this front: ${err.message}`);
      throw err;
    }
  }
}
