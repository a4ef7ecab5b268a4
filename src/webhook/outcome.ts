import type { Verdict } from "./admission.js";

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
