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

/** `outcome` with its write's entry `name` marked by `provisional`; as it is without a write or a provisional admission. */
export function withMark<L, O extends { write?: L }>(before: L, outcome: O, name: string, provisional: Provisional | undefined, ops: EntryOps<L, Claim>): O {
  return outcome.write && provisional ? { ...outcome, write: markPending(before, outcome.write, name, provisional.pending, ops) } : outcome;
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

/** One entry to settle: its name, the admission that marked it, the object as read, how its ledger is read and written. */
export interface Due<L> {
  readonly name: string;
  readonly uid: string;
  readonly stored: StoredObject | undefined;
  readonly ops: EntryOps<L, Claim>;
}

/**
 * Settles `due` entries of `ledger` as it is now (inside its compare-and-swap), each against
 * its object as read before. Returns the ledger (the same one when nothing changed) and, by
 * index into `due`, how each was settled ("none" for one a later admission marked since).
 */
export function settleEntries<L>(ledger: L, due: ReadonlyArray<Due<L>>): { ledger: L; kinds: Array<Settlement["kind"]> } {
  let next = ledger;
  const kinds = due.map((d) => {
    const claim = d.ops.get(next, d.name);
    const s = settle(claim, d.uid, d.stored);
    if (!claim || s.kind === "none") return "none" as const;
    if (s.kind === "drop") next = d.ops.without(next, d.name);
    else {
      const kept: Claim = { ...claim, addresses: s.addresses };
      delete (kept as { pending?: Pending }).pending;
      next = d.ops.with(next, d.name, kept);
    }
    return s.kind;
  });
  return { ledger: next, kinds };
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
  /**
   * The admission of a workload created auto pool `pool` (reserve.ts): it goes at the deadline
   * if the workload as stored then does not name it and no pod uses it (a forged CREATE, or
   * an UPDATE that switched subnets, that never got stored).
   */
  createdPool?(workload: { kind: "Deployment" | "StatefulSet"; namespace: string; name: string }, pool: string): void;
}
