/**
 * Provisional claims, pure. An admission claims in a ledger before the API server stores
 * the object, and the review may be forged (a caller that is not the API server) or
 * refused by a later step. So every claim an admission writes carries `pending`: the
 * review's UID and the time by which its object must be stored (webhook timeout plus a
 * margin). Then (pending-claims.ts) the claim is settled against the object as the API
 * server has it: kept as far as the object holds it, dropped when there is no object.
 * Not left to the sweep's grace period: a forged review blocks a range for seconds, not a
 * minute.
 */
import { parsedOrUndefined } from "../api/address-spec.js";
import { type AddressSpec, type ObjectMeta, RELEASE_FINALIZER } from "../api/types.js";
import type { RangeSet } from "../ip/range-set.js";

export interface Pending {
  /** The AdmissionReview's request UID. */
  readonly uid: string;
  /** Unix milliseconds: the object must be stored by then, or the claim lapses. */
  readonly until: number;
}

/** `{ pending }` when `v` is a well-formed marker, else nothing (a malformed one is ignored: the sweep's grace covers the claim). */
export function pendingOf(v: unknown): { pending?: Pending } {
  if (typeof v !== "object" || v === null) return {};
  const { uid, until } = v as { uid?: unknown; until?: unknown };
  return typeof uid === "string" && uid !== "" && typeof until === "number" && Number.isSafeInteger(until) && until > 0 ? { pending: { uid, until } } : {};
}

interface Claim {
  readonly addresses: RangeSet;
  readonly pending?: Pending;
}

/** How a ledger's entries are read and written (ledger.ts: subnetEntries, clusterEntries), so one routine serves both kinds. */
export interface EntryOps<L, C> {
  get(ledger: L, name: string): C | undefined;
  with(ledger: L, name: string, claim: C): L;
  without(ledger: L, name: string): L;
}

/**
 * Marks entry `name` of `next` pending when the admission changed it (against `before`):
 * what an admission only re-read stays as it was.
 */
export function markPending<L, C extends Claim>(before: L, next: L, name: string, pending: Pending, ops: EntryOps<L, C>): L {
  const claim = ops.get(next, name);
  if (!claim || claim === ops.get(before, name)) return next;
  return ops.with(next, name, { ...claim, pending });
}

/** What the API server stores under the entry's name (undefined: nothing). */
export interface StoredObject {
  metadata: ObjectMeta;
  spec: AddressSpec;
}

export type Settlement = { kind: "none" } | { kind: "drop" } | { kind: "keep"; addresses: RangeSet };

/**
 * The claim admission `uid` wrote, against the object now stored: dropped when there is
 * none, cut to what the object holds, the mark removed either way. Nothing when the entry
 * is gone or a later admission marked it (that one is settled in its turn). A deleting
 * object with pinpool's finalizer keeps its claim: the finalizer releases it.
 */
export function settle(claim: Claim | undefined, uid: string, stored: StoredObject | undefined): Settlement {
  if (!claim || claim.pending?.uid !== uid) return { kind: "none" };
  if (!stored) return { kind: "drop" };
  const held = parsedOrUndefined(stored.spec)?.addresses;
  const finalizing = !!stored.metadata.deletionTimestamp && !!stored.metadata.finalizers?.includes(RELEASE_FINALIZER);
  if (!held || finalizing) return { kind: "keep", addresses: claim.addresses };
  const kept = claim.addresses.intersection(held);
  return kept.isEmpty ? { kind: "drop" } : { kind: "keep", addresses: kept };
}

/**
 * Settles entry `name` of `ledger` as it is now (inside its compare-and-swap), against
 * `stored` as read before; returns the ledger unchanged when there is nothing to do.
 */
export function settleEntry<L, C extends Claim>(ledger: L, name: string, uid: string, stored: StoredObject | undefined, ops: EntryOps<L, C>): L {
  const claim = ops.get(ledger, name);
  const s = settle(claim, uid, stored);
  if (!claim || s.kind === "none") return ledger;
  if (s.kind === "drop") return ops.without(ledger, name);
  const rest: Claim = { ...claim, addresses: s.addresses };
  delete (rest as { pending?: Pending }).pending;
  return ops.with(ledger, name, rest as C);
}

/** A ledger entry an admission marked, and the object that must back it. */
export interface PendingEntry {
  readonly ledger: { readonly kind: "cluster"; readonly section: "subnets" | "pools" } | { readonly kind: "subnet"; readonly subnet: string };
  /** The entry's name: the object's. */
  readonly name: string;
  readonly object: "SpiderSubnet" | "SpiderIPPool";
  readonly pending: Pending;
}

/**
 * What an admission that may claim is given: the mark for what it writes, and where to
 * report each entry it marked (once the write landed), so it is settled at the deadline.
 * Undefined for the controller's own reservations (decided on what it read from the API
 * server) and for dry runs (which write nothing).
 */
export interface Provisional {
  readonly pending: Pending;
  marked(entry: PendingEntry): void;
  /** A workload CREATE reserved `pools`: they go at the deadline if the workload is not stored by then. */
  reservedFor?(workload: { kind: "Deployment" | "StatefulSet"; namespace: string; name: string }, pools: string[]): void;
}
