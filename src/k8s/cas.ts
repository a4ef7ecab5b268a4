import { isConflict } from "./errors.js";

export interface CasOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Upper bound of the first back-off; it doubles per attempt (full jitter). */
  baseDelayMs: number;
  /** Called on each conflict with what contended, for metrics. */
  onConflict?: (what: string, attempt: number) => void;
}

export const DEFAULT_CAS: CasOptions = { attempts: 12, baseDelayMs: 8 };

export class CasExhaustedError extends Error {
  override name = "CasExhaustedError";
}

/**
 * A compare-and-swap loop on one object's resourceVersion: `attempt` reads the object,
 * decides and writes it with the resourceVersion it read; a 409 Conflict means someone
 * else wrote in between, so it is run again after a jittered back-off. Bounded: after
 * `attempts` conflicts it fails with a message saying what contended. Any other error
 * propagates at once.
 */
export async function compareAndSwap<T>(what: string, attempt: () => Promise<T>, options: CasOptions = DEFAULT_CAS): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      if (!isConflict(e)) throw e;
      options.onConflict?.(what, i);
      if (i >= options.attempts) {
        throw new CasExhaustedError(`${what}: still conflicting after ${i} attempts; too many concurrent writers, retry the request`, {
          cause: e,
        });
      }
      const cap = options.baseDelayMs * 2 ** Math.min(i - 1, 6);
      await new Promise((r) => setTimeout(r, Math.random() * cap));
    }
  }
}
