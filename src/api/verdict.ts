/**
 * The vocabulary of decisions, shared by every layer that decides: admission (webhook),
 * reservation (the ledgers) and the controller. A Verdict says allowed or denied and why;
 * the webhook's one response builder turns it into the wire form.
 */
import type { Operation } from "fast-json-patch";

/** What a decision says. */
export type Verdict =
  | { allowed: true; patch?: Operation[]; warnings?: string[] }
  | { allowed: false; code: number; message: string; reason?: string };

export const allow = (patch?: Operation[], warnings?: string[]): Verdict => ({
  allowed: true,
  ...(patch && patch.length > 0 ? { patch } : {}),
  ...(warnings && warnings.length > 0 ? { warnings } : {}),
});

/** A denial the user must fix (403 Forbidden, as kubectl shows "is forbidden"). */
export const deny = (message: string, code = 403): Verdict => ({ allowed: false, code, message });

/** A pure decision about one admission: the verdict, and the ledger to write if it changed. */
export interface Outcome<L> {
  verdict: Verdict;
  write?: L;
}

/** Formats a list of names for a message: `"a", "b" and 3 more`. */
export function nameList(names: readonly string[], max = 5): string {
  const shown = names.slice(0, max).map((n) => `"${n}"`).join(", ");
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}
