/**
 * Reading and compare-and-swap writing of the two ledgers. Parsed ledgers are cached by
 * resourceVersion, so a read that finds the object unchanged costs one GET and no parsing.
 */
import type * as k8s from "@kubernetes/client-node";
import { type ParsedAddressSpec, parseAddressSpec } from "../api/address-spec.js";
import { GROUP, PLURAL, type SpiderSubnet, VERSION } from "../api/types.js";
import { type CasOptions, DEFAULT_CAS } from "../k8s/cas.js";
import { isNotFound } from "../k8s/errors.js";
import { GroupCommit } from "../k8s/group-commit.js";
import { subnetCountsOf } from "./counts.js";
import { ClusterLedger, SubnetLedger } from "./ledger.js";

export const LEDGER_DATA_KEY = "ledger.json";

export interface StoreOptions {
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  /** Where the cluster ledger ConfigMap lives (the controller's namespace). */
  namespace: string;
  ledgerName: string;
  cas?: CasOptions;
}

export interface SubnetState {
  subnet: SpiderSubnet;
  spec: ParsedAddressSpec;
  ledger: SubnetLedger;
}

type ClusterView = { ledger: ClusterLedger; rv?: string };

export class LedgerStores {
  private readonly clusterLane: GroupCommit<ClusterView, ClusterLedger>;
  private readonly subnetLanes = new Map<string, GroupCommit<SubnetState | undefined, SubnetLedger>>();
  private clusterCache?: { rv: string; ledger: ClusterLedger };
  private readonly subnetCache = new Map<string, { ledgerText: string; specText: string; state: SubnetState }>();

  constructor(private readonly o: StoreOptions) {
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

  /** The subnet and its parsed ledger, or undefined when it does not exist. */
  async readSubnet(name: string): Promise<SubnetState | undefined> {
    let subnet: SpiderSubnet;
    try {
      subnet = (await this.o.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderSubnet, name })) as SpiderSubnet;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
    return this.parsedSubnet(subnet);
  }

  /**
   * A subnet object (as read or listed) with its spec and ledger parsed. The parse is reused
   * while the ledger's text is unchanged: a count-only status write changes the
   * resourceVersion but not the ledger, and parsing a ledger of 10,000 pools costs tens of
   * milliseconds. Throws for a spec or ledger that does not parse.
   */
  parsedSubnet(subnet: SpiderSubnet): SubnetState {
    const name = subnet.metadata.name as string;
    const ledgerText = subnet.status?.controlledIPPools ?? "";
    const specText = JSON.stringify(subnet.spec);
    const cached = this.subnetCache.get(name);
    if (cached && cached.ledgerText === ledgerText && cached.specText === specText) return { ...cached.state, subnet };
    const spec = parseAddressSpec(subnet.spec);
    const state = { subnet, spec, ledger: SubnetLedger.decode(spec.family, ledgerText, `SpiderSubnet "${name}" status.controlledIPPools`) };
    this.subnetCache.set(name, { ledgerText, specText, state });
    return state;
  }

  private async writeSubnet(state: SubnetState, ledger: SubnetLedger): Promise<void> {
    const body: SpiderSubnet = {
      ...state.subnet,
      status: {
        ...state.subnet.status,
        controlledIPPools: ledger.encode(),
        ...subnetCountsOf(state.spec, ledger),
      },
    };
    const name = state.subnet.metadata.name as string;
    const stored = (await this.o.custom.replaceClusterCustomObjectStatus({ group: GROUP, version: VERSION, plural: PLURAL.SpiderSubnet, name, body })) as SpiderSubnet;
    this.subnetCache.set(name, {
      ledgerText: stored.status?.controlledIPPools ?? "",
      specText: JSON.stringify(stored.spec),
      state: { subnet: stored, spec: state.spec, ledger },
    });
  }

  /**
   * Like updateCluster, for SpiderSubnet `name`'s ledger (its status). `decide` gets
   * undefined when the subnet does not exist.
   */
  updateSubnet<R extends { write?: SubnetLedger }>(name: string, dryRun: boolean, decide: (s: SubnetState | undefined) => R): Promise<R> {
    let lane = this.subnetLanes.get(name);
    if (!lane) {
      lane = new GroupCommit(
        `SpiderSubnet "${name}"'s ledger`,
        {
          read: () => this.readSubnet(name),
          apply: (view, ledger) => view && { ...view, ledger },
          write: (base, next) => (base && next ? this.writeSubnet(base, next.ledger) : Promise.resolve()),
        },
        this.cas,
      );
      this.subnetLanes.set(name, lane);
    }
    return lane.submit(dryRun, decide);
  }
}
