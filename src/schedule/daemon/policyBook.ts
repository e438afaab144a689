/**
 * The policies a daemon answers with: the default one built at start, any other a request names
 * built on first use and kept. The splitwatt policy's switch cost is the one the daemon
 * measured (unless the options give one); a new measurement rebuilds the book.
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

  /** Build `name` now (a one-line UsageError when it cannot be: for the default policy at start). */
  build(name: string): Policy {
    let p = this.built.get(name);
    if (p === undefined) {
      p = createPolicy(name, this.file, { ...this.options, ...(this.switchCostGiven || this.switchCost === null ? {} : { switchCost: this.switchCost }) });
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
