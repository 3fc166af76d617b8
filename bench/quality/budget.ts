/**
 * `--budget-s`: the time budget of one device command, which decides before each fit whether it
 * can finish, stops a running fit whose own rate says it will not, and aborts one still running
 * at the end.
 *
 * @module
 */

/**
 * `--budget-s`: decides before each fit whether it can finish inside the budget, from the fits
 * timed so far (seconds = setup + steps × output pixels × rate, with the largest setup and rate
 * seen), and gives each fit a signal that aborts it at the budget's end should a prediction be
 * wrong. Without a budget every fit may start.
 */
export class FitBudget {
  readonly #seconds?: number;
  readonly #now: () => number;
  readonly #started: number;
  #setup = 0;
  #rate?: number;

  /**
   * Starts the budget now.
   *
   * @param seconds the budget, from now; undefined = none
   * @param now a clock in milliseconds (tests pass their own)
   */
  constructor(seconds?: number, now: () => number = () => performance.now()) {
    this.#seconds = seconds;
    this.#now = now;
    this.#started = now();
  }

  /** Seconds since the budget started. */
  elapsed(): number {
    return (this.#now() - this.#started) / 1000;
  }

  /** Predicted seconds of a fit; undefined before any fit was timed. */
  predict(steps: number, pixels: number): number | undefined {
    return this.#rate === undefined ? undefined : this.#setup + steps * pixels * this.#rate;
  }

  /** Why a fit of `steps` steps on `pixels` output pixels must not start, or undefined. */
  refuse(steps: number, pixels: number): string | undefined {
    if (this.#seconds === undefined) return undefined;
    const left = this.#seconds - this.elapsed();
    if (left <= 0) return `budget of ${this.#seconds} s spent`;
    const need = this.predict(steps, pixels);
    if (need !== undefined && need > this.#seconds) {
      return `predicted ${need.toFixed(0)} s, longer than the whole ${this.#seconds} s budget: ` +
        `it cannot run in one device command`;
    }
    if (need !== undefined && need > left) {
      return `predicted ${need.toFixed(0)} s, ${
        left.toFixed(0)
      } s of the ${this.#seconds} s budget left`;
    }
    return undefined;
  }

  /** Records a finished fit: its wall seconds, steps, output pixels and stepping ms per step. */
  record(seconds: number, steps: number, pixels: number, msPerStep: number): void {
    if (steps <= 0 || pixels <= 0) return;
    const rate = msPerStep / 1000 / pixels;
    this.#rate = Math.max(this.#rate ?? 0, rate);
    this.#setup = Math.max(this.#setup, seconds - (steps * msPerStep) / 1000);
  }

  /**
   * Why a running fit should stop now: `stepsLeft` more steps at `stepsPerSecond` (its own rate
   * so far) would end after the budget. Undefined without a budget or when it will finish.
   */
  refuseRest(stepsLeft: number, stepsPerSecond: number): string | undefined {
    if (this.#seconds === undefined || !(stepsPerSecond > 0)) return undefined;
    const left = this.#seconds - this.elapsed();
    const need = stepsLeft / stepsPerSecond;
    if (need <= left) return undefined;
    return `stopped early: ${stepsLeft} more steps need ${need.toFixed(0)} s, ` +
      `${Math.max(0, left).toFixed(0)} s of the ${this.#seconds} s budget left`;
  }

  /** A signal that aborts at the budget's end (undefined without a budget). */
  signal(): AbortSignal | undefined {
    if (this.#seconds === undefined) return undefined;
    const left = Math.max(0, this.#seconds - this.elapsed());
    return AbortSignal.timeout(Math.ceil(left * 1000));
  }
}

/** Why `--budget-s` stopped a running fit. */
export class BudgetStop extends Error {}
