/**
 * Reading and compare-and-swap writing of the two ledgers. The cluster ledger's parse is
 * cached by resourceVersion, so a read that finds it unchanged costs one GET and no
 * parsing; a subnet's ledger is read from the watched cache of its parts.
 */
import type * as k8s from "@kubernetes/client-node";
import { type ParsedAddressSpec, parseAddressSpec } from "../api/address-spec.js";
import { GROUP, PLURAL, type SpiderSubnet, VERSION } from "../api/types.js";
import { type CasOptions, DEFAULT_CAS } from "../k8s/cas.js";
import { isNotFound } from "../k8s/errors.js";
import { Coalescer } from "../k8s/coalescer.js";
import { GroupCommit } from "../k8s/group-commit.js";
import { refreshSubnetCounts } from "./counts.js";
import { LEGACY_MARK } from "./ledger-objects.js";
import { DIRECTORY } from "./ledger-part.js";
import { ClusterLedger } from "./ledger.js";
import type { SubnetLedger } from "./subnet-ledger.js";
import { type LedgerRead, SubnetLedgerParts } from "./subnet-ledger-parts.js";

export const LEDGER_DATA_KEY = "ledger.json";

export interface StoreOptions {
  /** For the watch on the subnet ledgers' parts. */
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  /** Where the cluster ledger ConfigMap lives (the controller's namespace). */
  namespace: string;
  ledgerName: string;
  cas?: CasOptions;
  /** Where what the stores cannot say to a caller goes: a watch that failed, counts not refreshed. */
  log?: { warn(fields: object, message: string): void };
}

export interface SubnetState {
  subnet: SpiderSubnet;
  spec: ParsedAddressSpec;
  ledger: SubnetLedger;
  /** What the ledger was read from, for the write's compare-and-swap. */
  read: LedgerRead;
}

/** A subnet whose ledger was stored in parts (its status says so) and is not there now. */
export function lostLedger(state: SubnetState): boolean {
  return !state.read.versions.has(DIRECTORY) && state.subnet.status?.controlledIPPools === LEGACY_MARK;
}

type ClusterView = { ledger: ClusterLedger; rv?: string };

export class LedgerStores {
  private readonly clusterLane: GroupCommit<ClusterView, ClusterLedger>;
  private readonly subnetLanes = new Map<string, GroupCommit<SubnetState | undefined, SubnetLedger>>();
  private clusterCache?: { rv: string; ledger: ClusterLedger };
  private readonly specCache = new Map<string, { text: string; spec: ParsedAddressSpec }>();
  private readonly countRefreshes = new Coalescer();
  /** The subnet ledgers, stored in parts. */
  readonly subnetParts: SubnetLedgerParts;

  constructor(private readonly o: StoreOptions) {
    this.subnetParts = new SubnetLedgerParts(o.kc, {
      core: o.core,
      namespace: o.namespace,
      onWatchError: (e) => o.log?.warn({ err: e }, "the watch on the subnet ledgers failed; restarting it (writes meanwhile read what they need afresh on a conflict)"),
    });
    this.clusterLane = new GroupCommit(
      "the cluster ledger",
      {
        read: () => this.readCluster(),
        apply: (view, ledger) => ({ ...view, ledger }),
        write: (base, next) => this.writeCluster(next.ledger, base.rv),
      },
      this.cas,
    );
  }

  /** Starts following the subnet ledgers; resolves once they are read. */
  start(): Promise<void> {
    return this.subnetParts.start();
  }

  stop(): Promise<void> {
    return this.subnetParts.stop();
  }

  private get cas(): CasOptions {
    return this.o.cas ?? DEFAULT_CAS;
  }

  async readCluster(): Promise<{ ledger: ClusterLedger; rv?: string }> {
    let cm: k8s.V1ConfigMap;
    try {
      cm = await this.o.core.readNamespacedConfigMap({ name: this.o.ledgerName, namespace: this.o.namespace });
    } catch (e) {
      if (isNotFound(e)) return { ledger: ClusterLedger.empty() };
      throw e;
    }
    const rv = cm.metadata?.resourceVersion as string;
    if (this.clusterCache?.rv !== rv) {
      const where = `ConfigMap ${this.o.namespace}/${this.o.ledgerName} data["${LEDGER_DATA_KEY}"]`;
      this.clusterCache = { rv, ledger: ClusterLedger.decode(cm.data?.[LEDGER_DATA_KEY], where) };
    }
    return { ledger: this.clusterCache.ledger, rv };
  }

  private async writeCluster(ledger: ClusterLedger, rv: string | undefined): Promise<void> {
    const body: k8s.V1ConfigMap = {
      metadata: { name: this.o.ledgerName, namespace: this.o.namespace, ...(rv ? { resourceVersion: rv } : {}), labels: { "app.kubernetes.io/part-of": "pinpool" } },
      data: { [LEDGER_DATA_KEY]: ledger.encode() },
    };
    // Without a resourceVersion the ledger does not exist yet: create, and a 409 (someone
    // created it first) sends the caller round the CAS loop again.
    const stored = rv
      ? await this.o.core.replaceNamespacedConfigMap({ name: this.o.ledgerName, namespace: this.o.namespace, body })
      : await this.o.core.createNamespacedConfigMap({ namespace: this.o.namespace, body });
    this.clusterCache = { rv: stored.metadata?.resourceVersion as string, ledger };
  }

  /**
   * Reads the cluster ledger, decides, and writes the decision's ledger (unless `dryRun`),
   * as one compare-and-swap: a concurrent writer makes the decision run again. Concurrent
   * calls are decided in order on one read and written together (group commit).
   */
  updateCluster<R extends { write?: ClusterLedger }>(dryRun: boolean, decide: (l: ClusterLedger) => R): Promise<R> {
    return this.clusterLane.submit(dryRun, (view) => decide(view.ledger));
  }

  /** The subnet and its parsed ledger, or undefined when it does not exist. `rebuilding`: see parsedSubnet. */
  async readSubnet(name: string, rebuilding = false): Promise<SubnetState | undefined> {
    let subnet: SpiderSubnet;
    try {
      subnet = (await this.o.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderSubnet, name })) as SpiderSubnet;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
    // Stored in parts, but this replica's cache has no directory yet (its watch lags another
    // replica's first write): read it before taking the ledger for gone.
    if (subnet.status?.controlledIPPools === LEGACY_MARK && !this.subnetParts.stored(subnet)) await this.subnetParts.refreshDirectory(name);
    return this.parsedSubnet(subnet, rebuilding);
  }

  /**
   * A subnet object (as read or listed) with its spec parsed and its ledger as the cache of
   * its parts has it (subnet-ledger-parts.ts). The spec's parse is reused while it is
   * unchanged. Throws for a spec or ledger that does not parse, and for a ledger that was
   * stored in parts and is gone, unless `rebuilding` (the sweep's repair, which writes every
   * stored pool's claim at once).
   */
  parsedSubnet(subnet: SpiderSubnet, rebuilding = false): SubnetState {
    const name = subnet.metadata.name as string;
    const text = JSON.stringify(subnet.spec);
    let cached = this.specCache.get(name);
    if (cached?.text !== text) {
      cached = { text, spec: parseAddressSpec(subnet.spec) };
      this.specCache.set(name, cached);
    }
    const read = this.subnetParts.read(subnet, cached.spec.family, { rebuilding });
    return { subnet, spec: cached.spec, ledger: read.ledger, read };
  }

  /**
   * Like updateCluster, for SpiderSubnet `name`'s ledger (stored in parts). `decide` gets
   * undefined when the subnet does not exist. `rebuilding`: see parsedSubnet.
   */
  async updateSubnet<R extends { write?: SubnetLedger }>(name: string, dryRun: boolean, decide: (s: SubnetState | undefined) => R, rebuilding = false): Promise<R> {
    const key = rebuilding ? `${name}\0rebuilding` : name;
    let lane = this.subnetLanes.get(key);
    if (!lane) {
      lane = new GroupCommit(
        `SpiderSubnet "${name}"'s ledger`,
        {
          read: () => this.readSubnet(name, rebuilding),
          apply: (view, ledger) => view && { ...view, ledger },
          write: (base, next) => (base && next ? this.writeSubnet(base, next.ledger) : Promise.resolve()),
        },
        this.cas,
      );
      this.subnetLanes.set(key, lane);
    }
    const outcome = await lane.submit(dryRun, decide);
    // The count columns are the subnet's status, not its ledger: refreshed after the write,
    // before the admission answers (`kubectl get ss` right after shows them), one write per burst.
    // A failed refresh must not fail the admission whose claim is written: the leader's count reconciler catches up.
    if (outcome.write && !dryRun) {
      await this.countRefreshes.run(name, () => refreshSubnetCounts(this.o.custom, this, name, this.cas)).catch((e: unknown) => {
        this.o.log?.warn({ err: e, subnet: name }, `SpiderSubnet "${name}"'s count columns were not refreshed; the controller's count reconciler will`);
      });
    }
    return outcome;
  }

  /**
   * The first write of a subnet's ledger in parts says so in its status before anything else,
   * a compare-and-swap on the subnet as read: an older pinpool still running (a rolling
   * upgrade) then refuses rather than reads its ledger there, and a claim it wrote there since
   * makes this a 409, decided again with that claim taken over.
   */
  private async writeSubnet(base: SubnetState, ledger: SubnetLedger): Promise<void> {
    if (!base.read.versions.has(DIRECTORY) && base.subnet.status?.controlledIPPools !== LEGACY_MARK) {
      const name = base.subnet.metadata.name as string;
      const body = { ...base.subnet, status: { ...base.subnet.status, controlledIPPools: LEGACY_MARK } };
      await this.o.custom.replaceClusterCustomObjectStatus({ group: GROUP, version: VERSION, plural: PLURAL.SpiderSubnet, name, body });
    }
    await this.subnetParts.write(base.subnet, base.read, ledger);
  }
}
