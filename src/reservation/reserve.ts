/**
 * Carries out a workload's reservation against the API server: claim in the subnet's
 * ledger (compare-and-swap), then create or resize the auto pool object. Order matters:
 * the ledger first, so a pool object never holds an address its subnet did not give it;
 * when shrinking, the pool first, so the ledger never frees an address a pool still holds.
 */
import type * as k8s from "@kubernetes/client-node";
import { parseIPList } from "../ip/ip-list.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import { RangeSet } from "../ip/range-set.js";
import { parseAddressSpec, parsedOrUndefined } from "../api/address-spec.js";
import { compareAndSwap } from "../k8s/cas.js";
import { apiMessage, isConflict } from "../k8s/errors.js";
import { PoolClient } from "../k8s/resources.js";
import { type ReservedIPs, skippedWarnings } from "./reserved-ips.js";
import { type Verdict, allow, deny } from "../api/verdict.js";
import type { SpiderIPPool } from "../api/types.js";
import { autoPoolObject, ownedBy } from "./auto-pool.js";
import { decideClaim } from "./claim.js";
import type { LedgerStores, SubnetState } from "./ledger-store.js";
import { subnetEntries } from "./subnet-ledger.js";
import { type Provisional, withMark } from "./pending.js";
import { type PoolPlan, type ReservationPlan, explainSize } from "./plan.js";
import { refreshPoolCounts } from "./counts.js";

export interface ReserveDeps {
  stores: LedgerStores;
  custom: k8s.CustomObjectsApi;
  reserved: ReservedIPs;
}

/**
 * Reserves every pool of `plan`; on a dry run, only checks that it could. Only with
 * `shrink` (the controller's resize sweep, which read the workload's replicas from the API
 * server) does a pool give back addresses beyond its size: admission only ever adds, as a
 * review can be forged or refused by a later step.
 */
export async function reserve(
  plan: ReservationPlan,
  deps: ReserveDeps,
  dryRun: boolean,
  { shrink: mayShrink = false, provisional }: { shrink?: boolean; provisional?: Provisional } = {},
): Promise<Verdict> {
  const known = await deps.reserved.read();
  const reserved = known.sets;
  const pools = new PoolClient(deps.custom);
  const warnings: string[] = skippedWarnings(known);
  for (const pool of plan.pools) {
    // The pool is written only from the copy read before its claim: if it changed since (a
    // shrink, say, whose release could otherwise land after this grow and leave the pool
    // outside its claim), the write is a 409 and the whole step runs again, claim included.
    const step = await compareAndSwap(`SpiderIPPool "${pool.name}" reservation`, () => claimAndEnsure(plan, pool, deps, { pools, reserved, provisional }, dryRun));
    if ("verdict" in step) {
      if (!step.verdict.allowed) return step.verdict;
      continue;
    }
    let counted: SpiderIPPool | undefined = step.stored;
    if (mayShrink && step.claimed.size > BigInt(pool.size)) {
      const warning = await shrink(plan, pool, deps.stores, pools);
      if (warning) warnings.push(warning);
      counted = undefined; // changed since: read it
    }
    await refreshPoolCounts(pools, pool.name, undefined, counted);
  }
  return allow(undefined, warnings);
}

/**
 * One attempt at one pool: reads it, claims its addresses in the subnet's ledger, then
 * creates the pool or grows it from that very copy. Resolves to the claim and the pool as
 * stored, or to a verdict (a denial; or, on a dry run or with nothing to claim, an allow).
 */
async function claimAndEnsure(
  plan: ReservationPlan,
  pool: PoolPlan,
  deps: ReserveDeps,
  { pools, reserved, provisional }: { pools: PoolClient; reserved: Awaited<ReturnType<ReservedIPs["read"]>>["sets"]; provisional?: Provisional | undefined },
  dryRun: boolean,
): Promise<{ verdict: Verdict } | { claimed: RangeSet; stored: SpiderIPPool }> {
  let subnet: SubnetState | undefined;
  const existing = await pools.get(pool.name);
  const stored = existing && parsedOrUndefined(existing.spec)?.addresses;
  const outcome = await deps.stores.updateSubnet(pool.subnet, dryRun, (state) => {
    subnet = state;
    const decided = decideClaim(plan.workload, pool, explainSize(plan), state && { name: pool.subnet, ...state, deleting: !!state.subnet.metadata.deletionTimestamp }, { reserved: reserved[pool.family], ...(stored ? { stored } : {}) });
    return state ? withMark(state.ledger, decided, pool.name, provisional, subnetEntries) : decided;
  });
  if (outcome.write && !dryRun) provisional?.marked({ ledger: { kind: "subnet", subnet: pool.subnet }, name: pool.name, object: "SpiderIPPool", pending: provisional.pending });
  if (!outcome.verdict.allowed || dryRun || !subnet || !outcome.addresses) return { verdict: outcome.verdict };
  const ensured = await ensurePool(plan, pool, pools, { subnet, addresses: outcome.addresses, existing });
  if (!existing && "stored" in ensured) provisional?.createdPool?.(plan.workload, pool.name);
  return "verdict" in ensured ? ensured : { claimed: outcome.addresses, stored: ensured.stored };
}

/**
 * Creates the auto pool with `addresses`, or grows `existing` (the copy read before the
 * claim) to them; resolves to the pool as stored, or a denial. A 409 (the pool was created
 * or changed since that read) is thrown for the caller to claim again.
 */
async function ensurePool(
  plan: ReservationPlan,
  pool: PoolPlan,
  pools: PoolClient,
  { subnet, addresses, existing }: { subnet: SubnetState; addresses: RangeSet; existing: SpiderIPPool | undefined },
): Promise<{ verdict: Verdict } | { stored: SpiderIPPool }> {
  if (!existing) {
    try {
      return { stored: await pools.create(autoPoolObject(plan.workload, pool, plan.reclaim, { object: subnet.subnet, spec: subnet.spec }, addresses)) };
    } catch (e) {
      // Another admission of the same workload created it first: claim again from its copy.
      if (isConflict(e)) throw e;
      throw new Error(`creating SpiderIPPool "${pool.name}" failed: ${apiMessage(e)}`, { cause: e });
    }
  }
  if (!ownedBy(existing, plan.workload)) {
    return { verdict: deny(`SpiderIPPool "${pool.name}" already exists and is not reserved for ${plan.workload.kind} ${plan.workload.namespace}/${plan.workload.name}; rename or delete it`, 409) };
  }
  const current = parseIPList(pool.family, existing.spec.ips, `SpiderIPPool "${pool.name}" spec.ips`);
  if (current.containsSet(addresses)) return { stored: existing };
  return { stored: await pools.replace({ ...existing, spec: { ...existing.spec, ips: current.union(addresses).toStrings() } }) };
}

/**
 * Gives back, from the top, addresses of the pool that no pod holds, until it has
 * `pool.size`; then releases them in the ledger, unless the claim was written again since
 * (a concurrent grow may be putting them back into the pool: the over-claim is trimmed
 * later, never an address dropped that a pool holds). Returns a warning when pods hold
 * too many addresses to shrink all the way.
 */
async function shrink(plan: ReservationPlan, pool: PoolPlan, stores: LedgerStores, pools: PoolClient): Promise<string | undefined> {
  const revBefore = (await stores.readSubnet(pool.subnet))?.ledger.pools.get(pool.name)?.rev;
  let dropped = RangeSet.empty(pool.family);
  let shortBy = 0n;
  await compareAndSwap(`SpiderIPPool "${pool.name}" shrink`, async () => {
    // Each attempt decides afresh: what a conflicted attempt meant to drop is not dropped.
    dropped = RangeSet.empty(pool.family);
    shortBy = 0n;
    const existing = await pools.get(pool.name);
    if (!existing) return; // deleted meanwhile: nothing to shrink
    const spec = parseAddressSpec(existing.spec);
    const allocated = AllocationRecord.decode(spec.family, existing.status?.allocations).allocated();
    const excess = spec.addresses.size - BigInt(pool.size);
    if (excess <= 0n) return;
    dropped = spec.addresses.difference(allocated).takeLast(excess);
    shortBy = excess - dropped.size;
    if (dropped.isEmpty) return;
    const ips = parseIPList(spec.family, existing.spec.ips, "spec.ips").difference(dropped);
    await pools.replace({ ...existing, spec: { ...existing.spec, ips: ips.toStrings() } });
  });
  if (!dropped.isEmpty) {
    await stores.updateSubnet(pool.subnet, false, (state) => {
      const claim = state?.ledger.pools.get(pool.name);
      if (!state || !claim || claim.rev !== revBefore) return { verdict: allow() };
      return { verdict: allow(), write: state.ledger.with(pool.name, { ...claim, addresses: claim.addresses.difference(dropped) }) };
    });
  }
  return shortBy > 0n
    ? `SpiderIPPool "${pool.name}" keeps ${shortBy} more addresses than ${explainSize(plan)}: pods still hold them; it shrinks when they are released`
    : undefined;
}
