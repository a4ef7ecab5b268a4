/**
 * The ledgers against the stored objects, every sweep: claims nothing backs are trimmed
 * after the grace period (ledger-sweep.ts), claims stored objects lack are added
 * (ledger-repair.ts), and objects that share addresses are shown (conflicts.ts): a
 * `Conflict` condition naming the other object and the shared range, a Warning event, and
 * the gauge pinpool_address_conflicts. No winner is chosen: an operator resolves it.
 */
import type * as k8s from "@kubernetes/client-node";
import { type ParsedAddressSpec, parsedOrUndefined } from "../api/address-spec.js";
import type { AddressSpec, Condition, ObjectMeta, SpiderSubnet } from "../api/types.js";
import { cidrBounds } from "../ip/cidr.js";
import { RangeSet } from "../ip/range-set.js";
import { PoolClient, type SpiderClient, SubnetClient } from "../k8s/resources.js";
import { type Holding, conflictsByObject, findConflicts } from "../reservation/conflicts.js";
import type { LedgerStores } from "../reservation/ledger-store.js";
import { LedgerFormatError, clusterEntries } from "../reservation/ledger.js";
import { AddressError } from "../ip/address.js";
import { lostLedger } from "../reservation/ledger-store.js";
import { subnetEntries } from "../reservation/subnet-ledger.js";
import { type Pending, settleEntries } from "../reservation/pending.js";
import { withCondition } from "./conditions.js";
import { recordEvent } from "./effects.js";
import { compareAndSwap } from "../k8s/cas.js";
import { addClusterPools, addClusterSubnets, addSubnetPools, planRepair } from "./ledger-repair.js";
import { type StaleClaim, applyTrims, staleClaims } from "./ledger-sweep.js";
import type { Snapshot } from "./snapshot.js";

export const CONFLICT_CONDITION = "Conflict";

export interface LedgerReconcilerDeps {
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  stores: LedgerStores;
  /** Claims of `ledger` that stayed stale for the grace period. */
  ripe(ledger: string, claims: StaleClaim[], now: number): StaleClaim[];
  /** Records an action (metric and log line). */
  done(action: string, fields: object, message: string): void;
  /** Asks for the ledger steps at the next sweep again (a pending claim's deadline is still ahead). */
  later(): void;
  /** Runs one object's step; a failure is counted and logged, and the sweep goes on. */
  guarded(step: string, name: string | undefined, act: () => Promise<void>): Promise<void>;
}

type Spider = { apiVersion: string; kind: string; metadata: ObjectMeta; spec: AddressSpec; status?: { conditions?: Condition[] } };

export class LedgerReconciler {
  private readonly pools: PoolClient;
  private readonly subnets: SubnetClient;

  constructor(private readonly d: LedgerReconcilerDeps) {
    this.pools = new PoolClient(d.custom);
    this.subnets = new SubnetClient(d.custom);
  }

  /**
   * Claims judged stale on the snapshot for the grace period, judged again on their objects
   * read now: the watch caches may not show an object stored a moment ago.
   */
  private async confirmed(trims: StaleClaim[], client: SpiderClient<Spider>, kind: "SpiderIPPool" | "SpiderSubnet"): Promise<StaleClaim[]> {
    const fresh = new Map<string, Spider>();
    for (const t of trims) {
      const o = await client.get(t.name);
      if (o) fresh.set(t.name, o);
    }
    return staleClaims(
      trims.map((t) => [t.name, { addresses: t.claim, ...(t.rev ? { rev: t.rev } : {}) }] as const),
      fresh,
      kind,
    );
  }

  async trim(s: Snapshot, now: number): Promise<void> {
    const stored = new Map(s.pools.map((p) => [p.metadata.name as string, p]));
    const { ledger: cluster } = await this.d.stores.readCluster();
    // A subnet's own entry in the cluster ledger is stale when the SpiderSubnet does not exist.
    const subnets = new Map(s.subnets.map((x) => [x.metadata.name as string, x]));
    const clusterTrims = [
      ...(await this.confirmed(this.d.ripe("cluster-pools", staleClaims(cluster.pools, stored), now), this.pools, "SpiderIPPool")).map((t) => ({ section: "pools" as const, t })),
      ...(await this.confirmed(this.d.ripe("cluster-subnets", staleClaims(cluster.subnets, subnets, "SpiderSubnet"), now), this.subnets, "SpiderSubnet")).map((t) => ({ section: "subnets" as const, t })),
    ];
    if (clusterTrims.length) {
      const { applied } = await this.d.stores.updateCluster(false, (l) => {
        let next = l;
        const applied: string[] = [];
        for (const section of ["pools", "subnets"] as const) {
          const trims = clusterTrims.filter((c) => c.section === section).map((c) => c.t);
          const out = applyTrims(next, trims, clusterEntries(section));
          next = out.ledger;
          applied.push(...out.applied.map((t) => `${section} "${t.name}": ${t.why}`));
        }
        return next === l ? { applied } : { write: next, applied };
      });
      for (const what of applied) this.d.done("trim_ledger", { ledger: "cluster" }, `trimmed the cluster ledger's ${what}`);
    }
    for (const subnet of s.subnets) {
      const subnetName = subnet.metadata.name as string;
      await this.d.guarded("ledgers", subnetName, async () => {
        const ripe = this.d.ripe(`subnet/${subnetName}`, staleClaims(this.d.stores.parsedSubnet(subnet).ledger.pools, stored), now);
        const trims = ripe.length ? await this.confirmed(ripe, this.pools, "SpiderIPPool") : [];
        if (!trims.length) return;
        const { applied } = await this.d.stores.updateSubnet(subnetName, false, (state) => {
          if (!state) return { applied: [] };
          const out = applyTrims(state.ledger, trims, subnetEntries);
          return out.ledger === state.ledger ? { applied: out.applied } : { write: out.ledger, applied: out.applied };
        });
        for (const t of applied) this.d.done("trim_ledger", { ledger: subnetName }, `trimmed SpiderSubnet "${subnetName}"'s ledger: ${t.why}`);
      });
    }
  }

  /**
   * Provisional claims whose deadline passed before the snapshot (pending.ts), settled
   * against their objects read afresh: what the replica that admitted them did not settle
   * (it died or stopped first). Kept as far as their object holds them, else dropped. A
   * claim whose deadline is still ahead asks for the ledger steps at the next sweep.
   */
  async settleLapsed(s: Snapshot): Promise<void> {
    const lapsed = <C extends { pending?: Pending }>(claims: Iterable<readonly [string, C]>): Array<{ name: string; uid: string }> =>
      [...claims].flatMap(([name, c]) => {
        if (c.pending && c.pending.until > s.listedAt) this.d.later();
        return c.pending && c.pending.until <= s.listedAt ? [{ name, uid: c.pending.uid }] : [];
      });
    const fresh = async <T>(client: SpiderClient<T & { metadata: { name?: string } }>, due: Array<{ name: string; uid: string }>) =>
      Promise.all(due.map(async (e) => ({ ...e, stored: await client.get(e.name) })));
    const report = (where: string, due: ReadonlyArray<{ name: string }>, kinds: string[]): void =>
      kinds.forEach((kind, n) => {
        if (kind !== "none") this.d.done("settle_claim", { ledger: where }, `settled the lapsed provisional claim of "${due[n]?.name}" in ${where}: ${kind === "drop" ? "dropped, no object holds it" : "kept as far as its object holds it"}`);
      });
    const { ledger: cluster } = await this.d.stores.readCluster();
    const clusterDue = [
      ...(await fresh(this.pools, lapsed(cluster.pools))).map((e) => ({ ...e, ops: clusterEntries("pools") })),
      ...(await fresh(this.subnets, lapsed(cluster.subnets))).map((e) => ({ ...e, ops: clusterEntries("subnets") })),
    ];
    if (clusterDue.length) {
      const { kinds } = await this.d.stores.updateCluster(false, (l) => {
        const out = settleEntries(l, clusterDue);
        return out.ledger === l ? { kinds: out.kinds } : { write: out.ledger, kinds: out.kinds };
      });
      report("the cluster ledger", clusterDue, kinds);
    }
    for (const subnet of s.subnets) {
      const subnetName = subnet.metadata.name as string;
      await this.d.guarded("ledgers", subnetName, async () => {
        const due = (await fresh(this.pools, lapsed(this.d.stores.parsedSubnet(subnet).ledger.pools))).map((e) => ({ ...e, ops: subnetEntries }));
        if (!due.length) return;
        const { kinds } = await this.d.stores.updateSubnet(subnetName, false, (state) => {
          if (!state) return { kinds: [] as string[] };
          const out = settleEntries(state.ledger, due);
          return out.ledger === state.ledger ? { kinds: out.kinds } : { write: out.ledger, kinds: out.kinds };
        });
        report(`SpiderSubnet "${subnetName}"'s ledger`, due, kinds);
      });
    }
  }

  /** Adds the claims stored objects lack; decided on the snapshot, written only when something is missing. */
  async repair(s: Snapshot): Promise<void> {
    const { ledger: cluster, rv } = await this.d.stores.readCluster();
    // A ledger rebuilt from nothing must list every stored pool: the caches may lack one
    // stored a moment ago, so it is planned on a fresh list.
    const lost = rv === undefined || s.subnets.some((x) => this.lost(x));
    const plan = planRepair(lost ? await this.pools.list() : s.pools, s.subnets, cluster);
    const clusterAdds = (l: typeof cluster) => {
      const bySubnets = addClusterSubnets(l, plan.clusterSubnets);
      const byPools = addClusterPools(bySubnets.ledger, plan.clusterPools);
      const added = [...bySubnets.added.map((a) => `SpiderSubnet "${a.name}" (${a.missing.toString()})`), ...byPools.added.map((a) => `SpiderIPPool "${a.name}" (${a.missing.toString()})`)];
      return byPools.ledger === l ? { added } : { write: byPools.ledger, added };
    };
    if (clusterAdds(cluster).write) {
      const { added } = await this.d.stores.updateCluster(false, clusterAdds);
      for (const what of added) this.d.done("repair_ledger", { ledger: "cluster" }, `added the missing claim of ${what} to the cluster ledger`);
    }
    for (const subnet of s.subnets) {
      const subnetName = subnet.metadata.name as string;
      const wanted = plan.subnetPools.get(subnetName) ?? [];
      await this.d.guarded("ledgers", subnetName, async () => {
        // Rebuilding: a ledger that is gone (even with no pool to put back) is written again,
        // with every stored pool's claim, in this one write.
        const known = this.d.stores.parsedSubnet(subnet, true);
        if (!addSubnetPools(known.ledger, wanted).added.length && !lostLedger(known)) return;
        const { added } = await this.d.stores.updateSubnet(
          subnetName,
          false,
          (state) => {
            if (!state) return { added: [] };
            const out = addSubnetPools(state.ledger, wanted);
            return out.ledger === state.ledger && !lostLedger(state) ? { added: out.added } : { write: out.ledger, added: out.added };
          },
          true,
        );
        for (const a of added) this.d.done("repair_ledger", { ledger: subnetName }, `added SpiderIPPool "${a.name}"'s missing claim (${a.missing.toString()}) to SpiderSubnet "${subnetName}"'s ledger`);
      });
    }
  }

  /** Whether `subnet`'s ledger is gone and waits to be rebuilt (false when it cannot be read: the repair step reports that). */
  private lost(subnet: SpiderSubnet): boolean {
    try {
      return lostLedger(this.d.stores.parsedSubnet(subnet, true));
    } catch (e) {
      if (e instanceof AddressError || e instanceof LedgerFormatError) return false;
      throw e;
    }
  }

  /** Shows every pair of stored objects that share addresses; returns how many pairs there are. */
  async showConflicts(s: Snapshot): Promise<number> {
    const poolPairs = findConflicts(holdings(s.pools, (spec) => spec.addresses));
    // Subnets conflict by CIDR: overlapping subnets would hand one address to two pools.
    const subnetPairs = findConflicts(holdings(s.subnets, (spec) => RangeSet.of(spec.family, cidrBounds(spec.cidr).start, cidrBounds(spec.cidr).end)));
    await this.mark(s.pools, conflictsByObject(poolPairs), this.pools);
    await this.mark(s.subnets, conflictsByObject(subnetPairs), this.subnets);
    return poolPairs.length + subnetPairs.length;
  }

  private async mark<T extends Spider>(objects: readonly T[], byObject: ReturnType<typeof conflictsByObject>, client: SpiderClient<T>): Promise<void> {
    for (const o of objects) {
      const name = o.metadata.name as string;
      const found = byObject.get(name)?.map((c) => `shares ${c.shared.toString()} with ${o.kind} "${c.other}"`).join("; ");
      const message = found && `${found}; pinpool hands out none of the shared addresses until one of the objects gives them up`;
      const change = (x: T): ReturnType<typeof withCondition> => withCondition(x.status?.conditions, CONFLICT_CONDITION, "AddressesShared", message, new Date());
      if (!change(o)) continue;
      await this.d.guarded("conflicts", name, async () => {
        // A busy pool's status changes often (the agent's claims): re-read, so the condition lands.
        const written = await compareAndSwap(`${o.kind} "${name}" conditions`, async () => {
          const fresh = await client.get(name);
          const conditions = fresh && change(fresh);
          if (!fresh || !conditions) return false;
          await client.replaceStatus({ ...fresh, status: { ...fresh.status, conditions } });
          return true;
        });
        if (written && found) await recordEvent(this.d.core, o, { reason: "AddressConflict", message: `${o.kind} "${name}" ${found}`, type: "Warning" });
      });
    }
  }
}

function holdings(objects: ReadonlyArray<{ metadata: ObjectMeta; spec: AddressSpec }>, addresses: (spec: ParsedAddressSpec) => RangeSet): Holding[] {
  return objects.flatMap((o) => {
    const spec = parsedOrUndefined(o.spec);
    return spec ? [{ name: o.metadata.name as string, addresses: addresses(spec) }] : [];
  });
}
