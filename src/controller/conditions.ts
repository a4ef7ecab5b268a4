/** Conditions on Spider objects' status, pure. */
import type { Condition } from "../api/types.js";

/**
 * `conditions` with `type` set True with `reason` and `message`, or without `type` when
 * `message` is undefined; undefined when that changes nothing (no write needed).
 */
export function withCondition(conditions: Condition[] | undefined, type: string, reason: string, message: string | undefined, now: Date): Condition[] | undefined {
  const current = conditions?.find((c) => c.type === type);
  const others = (conditions ?? []).filter((c) => c.type !== type);
  if (message === undefined) return current ? others : undefined;
  if (current?.status === "True" && current.reason === reason && current.message === message) return undefined;
  return [...others, { type, status: "True", reason, message, lastTransitionTime: now.toISOString() }];
}
