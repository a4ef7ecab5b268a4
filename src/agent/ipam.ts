/**
 * The agent's IPAM: CNI ADD/DEL/CHECK/STATUS/GC against the API server. Claims on one pool
 * are batched by group commit (one compare-and-swap writes many claims), so a burst of
 * ADDs on one node never races itself and costs a few writes, not one per pod.
 */
import * as k8s from "@kubernetes/client-node";
import { ANNOTATION, AnnotationError } from "../api/annotations.js";
import { holderKey, ordinalKept } from "../api/holders.js";
import { API_VERSION, type EndpointIP, GROUP, PLURAL, type SpiderEndpoint, type SpiderIPPool, VERSION } from "../api/types.js";
import { type Family, formatAddress } from "../ip/address.js";
import { parseCidr } from "../ip/cidr.js";
import { DEFAULT_CAS, compareAndSwap } from "../k8s/cas.js";
import { isNotFound, orUndefined } from "../k8s/errors.js";
import { conflictLabel } from "../metrics/cas.js";
import type { AgentMetrics } from "../metrics/agent.js";
import { AllocationWriter } from "../reservation/allocations.js";
import { ReservedIPs } from "../reservation/reserved-ips.js";
import { type Shared, SharedAddresses } from "../reservation/shared-addresses.js";
import { PoolClient } from "../k8s/resources.js";
import { nameList } from "../api/verdict.js";
import { candidatePools } from "./candidates.js";
import { type ClaimDecision, decideClaim } from "./claim.js";
import { type PodFacts, podFacts } from "./pod.js";
import { CNI_CODE, CniError, type CniRequest, type CniResult } from "./protocol.js";

interface Claimed {
  family: Family;
  pool: SpiderIPPool;
  address: bigint;
}

export class Ipam {
  private readonly allocations: AllocationWriter;
  private readonly reserved: ReservedIPs;
  private readonly shared: SharedAddresses;

  constructor(
    private readonly core: k8s.CoreV1Api,
    private readonly apps: k8s.AppsV1Api,
    private readonly custom: k8s.CustomObjectsApi,
    private readonly node: string,
    private readonly metrics?: AgentMetrics,
  ) {
    this.allocations = new AllocationWriter(custom, { ...DEFAULT_CAS, onConflict: (what) => this.metrics?.casConflicts.inc({ object: conflictLabel(what) }) });
    this.reserved = new ReservedIPs(custom);
    this.shared = new SharedAddresses(new PoolClient(custom));
  }

  private readPod(namespace: string, name: string): Promise<k8s.V1Pod | undefined> {
    return orUndefined(this.core.readNamespacedPod({ namespace, name }));
  }

  private async readEndpoint(namespace: string, name: string): Promise<SpiderEndpoint | undefined> {
    return (await orUndefined(this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderEndpoint, namespace, name }))) as SpiderEndpoint | undefined;
  }

  private async candidates(facts: PodFacts, req: CniRequest): Promise<{ source: string; 4: string[]; 6: string[] }> {
    const a = facts.annotations;
    const fromPod = a[ANNOTATION.reserved] ?? a[ANNOTATION.ippools] ?? a[ANNOTATION.ippool];
    const namespaceAnnotations = fromPod ? {} : ((await this.core.readNamespace({ name: facts.namespace })).metadata?.annotations ?? {});
    const ipam = (req.config as { ipam?: { default_ipv4_ippool?: string[]; default_ipv6_ippool?: string[] } }).ipam ?? {};
    const netconfDefaults = { ipv4: ipam.default_ipv4_ippool ?? [], ipv6: ipam.default_ipv6_ippool ?? [] };
    const needDefaults = !fromPod && !Object.keys(namespaceAnnotations).some((k) => k.startsWith("ipam.spidernet.io/default-ipv")) && !netconfDefaults.ipv4.length && !netconfDefaults.ipv6.length;
    const defaultPools = { ipv4: [] as string[], ipv6: [] as string[] };
    if (needDefaults) {
      const list = (await this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool })) as { items: SpiderIPPool[] };
      for (const p of list.items.filter((p) => p.spec.default)) defaultPools[parseCidr(p.spec.subnet).family === 4 ? "ipv4" : "ipv6"].push(p.metadata.name as string);
    }
    try {
      const c = candidatePools({ ifName: req.ifName, podAnnotations: a, namespaceAnnotations, netconfDefaults, defaultPools });
      return { source: c.source, 4: c.ipv4, 6: c.ipv6 };
    } catch (e) {
      if (e instanceof AnnotationError) throw new CniError(CNI_CODE.badAnnotation, `pod ${facts.namespace}/${facts.name} has a malformed pool annotation`, e.message);
      throw e;
    }
  }

  /** Claims an address of `family` from the first usable candidate pool. */
  private async claimFrom(names: string[], family: Family, facts: PodFacts, source: string): Promise<Claimed> {
    const reserved = (await this.reserved.read()).sets[family];
    const refusals: string[] = [];
    let exhausted: { name: string; size: bigint; holders: number } | undefined;
    let conflict: { name: string; shared: Shared } | undefined;
    for (const name of names) {
      // Never hand out an address another pool holds too (a conflict made with the webhooks off).
      const shared = await this.shared.of(name, family);
      const unavailable = shared.addresses.isEmpty ? reserved : reserved.union(shared.addresses);
      const d = await this.allocations.submit<ClaimDecision & { write?: SpiderIPPool }>(name, (pool) => decideClaim(pool, name, family, facts, unavailable));
      if (d.kind === "claimed") this.metrics?.allocations.inc({ family: `IPv${family}` });
      if (d.kind === "held" || d.kind === "claimed") return { family, pool: d.pool, address: d.address };
      if (d.kind === "exhausted" && !shared.addresses.isEmpty) conflict ??= { name, shared };
      else if (d.kind === "exhausted") exhausted ??= { name, size: d.size, holders: d.holders };
      else refusals.push(d.reason);
    }
    if (conflict) {
      throw new CniError(
        CNI_CODE.addressConflict,
        `SpiderIPPool "${conflict.name}" shares ${conflict.shared.addresses.toString()} with SpiderIPPool ${nameList(conflict.shared.with)}`,
        `pinpool hands out none of the shared addresses and the pool's other addresses are held; pod ${facts.namespace}/${facts.name} gets none. Remove the shared addresses from one of the pools (see their Conflict condition)`,
      );
    }
    if (exhausted) {
      throw new CniError(
        CNI_CODE.poolExhausted,
        `SpiderIPPool "${exhausted.name}" is exhausted`,
        `all ${exhausted.size} of its addresses are held (by ${exhausted.holders} pods or StatefulSet ordinals); pod ${facts.namespace}/${facts.name} gets none. Grow the pool (ippool-ip-number), or free addresses`,
      );
    }
    throw new CniError(CNI_CODE.noPool, `no usable IPv${family} pool for pod ${facts.namespace}/${facts.name}`, `from ${source}: ${refusals.join("; ") || "none named"}`);
  }

  async add(req: CniRequest): Promise<CniResult> {
    const { namespace, name, uid } = req.pod;
    const pod = await this.readPod(namespace, name);
    if (!pod) throw new CniError(CNI_CODE.unknownContainer, `pod ${namespace}/${name} does not exist`, "it may have been deleted while its sandbox was being created; nothing was allocated");
    if (uid && pod.metadata?.uid !== uid) {
      throw new CniError(CNI_CODE.unknownContainer, `pod ${namespace}/${name} was recreated`, `the sandbox is for UID ${uid}, the pod now has ${pod.metadata?.uid}; nothing was allocated`);
    }
    const facts = podFacts(pod, this.node);
    const candidates = await this.candidates(facts, req);
    const families = ([4, 6] as const).filter((f) => candidates[f].length > 0);
    if (families.length === 0) {
      throw new CniError(CNI_CODE.noPool, `no pool for pod ${namespace}/${name} on ${req.ifName}`, `${candidates.source} name none; annotate the workload (ipam.spidernet.io/subnet or ippool) or mark a pool spec.default`);
    }
    const claimed: Claimed[] = [];
    for (const f of families) claimed.push(await this.claimFrom(candidates[f], f, facts, candidates.source));
    await this.writeEndpoint(facts, req, claimed);
    return {
      ips: claimed.map((c) => ({
        address: `${formatAddress(c.family, c.address)}/${parseCidr(c.pool.spec.subnet).prefix}`,
        ...(c.pool.spec.gateway ? { gateway: c.pool.spec.gateway } : {}),
      })),
      routes: claimed.flatMap((c) => c.pool.spec.routes ?? []),
    };
  }

  private async writeEndpoint(facts: PodFacts, req: CniRequest, claimed: Claimed[]): Promise<void> {
    const ip: NonNullable<NonNullable<SpiderEndpoint["status"]>["current"]>["ips"][number] = { interface: req.ifName };
    for (const c of claimed) {
      const prefix = parseCidr(c.pool.spec.subnet).prefix;
      const key = c.family === 4 ? "ipv4" : "ipv6";
      ip[key] = `${formatAddress(c.family, c.address)}/${prefix}`;
      ip[`${key}Pool`] = c.pool.metadata.name;
      if (c.pool.spec.gateway) ip[`${key}Gateway`] = c.pool.spec.gateway;
    }
    const status: SpiderEndpoint["status"] = {
      current: { uid: facts.uid, node: facts.node, containerID: req.containerID, ips: [ip] },
      ...(facts.statefulSet ? { ownerControllerType: "StatefulSet", ownerControllerName: facts.statefulSet.name } : {}),
    };
    const base = { group: GROUP, version: VERSION, plural: PLURAL.SpiderEndpoint, namespace: facts.namespace };
    await compareAndSwap(`SpiderEndpoint ${facts.namespace}/${facts.name}`, async () => {
      const existing = await this.readEndpoint(facts.namespace, facts.name);
      if (!existing) {
        const body: SpiderEndpoint = { apiVersion: API_VERSION, kind: "SpiderEndpoint", metadata: { name: facts.name, namespace: facts.namespace }, status };
        await this.custom.createNamespacedCustomObject({ ...base, body });
        return;
      }
      // Other interfaces of the same sandbox keep their entries.
      const others = existing.status?.current?.containerID === req.containerID ? (existing.status.current.ips ?? []).filter((i) => i.interface !== req.ifName) : [];
      const current = { ...(status.current as NonNullable<typeof status.current>), ips: [...others, ip] };
      await this.custom.replaceNamespacedCustomObject({ ...base, name: facts.name, body: { ...existing, status: { ...status, current } } });
    });
  }

  /** Fresh reads for the shared ordinal rule (api/holders.ts#ordinalKept). */
  private async ordinalKept(namespace: string, sts: string, ordinal: number): Promise<boolean> {
    const set = await orUndefined(this.apps.readNamespacedStatefulSet({ namespace, name: sts }));
    if (!ordinalKept(set, false, ordinal)) return false;
    const ns = await orUndefined(this.core.readNamespace({ name: namespace }));
    return ordinalKept(set, !!ns?.metadata?.deletionTimestamp, ordinal);
  }

  async del(req: CniRequest): Promise<void> {
    const { namespace, name } = req.pod;
    const endpoint = await this.readEndpoint(namespace, name);
    const current = endpoint?.status?.current;
    // A newer sandbox of the same pod owns the addresses now: this DEL is for an old one.
    if (current?.containerID && current.containerID !== req.containerID) return;
    let holder: string;
    let pools: string[];
    let sts: { name: string; ordinal: number } | undefined;
    const poolsOf = (ips: EndpointIP[]): string[] => ips.flatMap((i) => [i.ipv4Pool, i.ipv6Pool]).filter((p): p is string => !!p);
    // Only this interface's addresses go: a DEL for net1 leaves eth0's (and a pool eth0 also uses).
    const others = current?.ips.filter((i) => i.interface !== req.ifName) ?? [];
    if (endpoint && current) {
      const setName = endpoint.status?.ownerControllerType === "StatefulSet" ? endpoint.status.ownerControllerName : undefined;
      sts = setName ? { name: setName, ordinal: Number(name.slice(setName.length + 1)) } : undefined;
      holder = holderKey(namespace, name, sts);
      const stillUsed = new Set(poolsOf(others));
      pools = poolsOf(current.ips.filter((i) => i.interface === req.ifName)).filter((p) => !stillUsed.has(p));
    } else {
      // No endpoint: never written (a crash after the claim) or already deleted (a namespace
      // deletion removes endpoints before the pods' DEL). The pod still exists while its
      // sandbox is torn down: release what it holds in its candidate pools.
      const pod = await this.readPod(namespace, name);
      if (!pod) return; // nothing recorded and no pod: DEL is idempotent
      const facts = podFacts(pod, this.node);
      sts = facts.statefulSet;
      holder = facts.holder;
      const c = await this.candidates(facts, req);
      pools = [...c[4], ...c[6]];
    }
    if (sts && (await this.ordinalKept(namespace, sts.name, sts.ordinal))) return;
    for (const pool of pools) {
      if (await this.allocations.release(pool, holder)) this.metrics?.releases.inc();
    }
    if (!endpoint) return;
    if (others.length > 0) {
      await this.forgetInterface(namespace, name, req);
      return;
    }
    try {
      await this.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderEndpoint, namespace, name });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** Drops `req.ifName`'s entry from the pod's SpiderEndpoint, keeping the other interfaces'. */
  private async forgetInterface(namespace: string, name: string, req: CniRequest): Promise<void> {
    await compareAndSwap(`SpiderEndpoint ${namespace}/${name}`, async () => {
      const existing = await this.readEndpoint(namespace, name);
      const current = existing?.status?.current;
      if (!existing || !current || current.containerID !== req.containerID) return;
      const ips = current.ips.filter((i) => i.interface !== req.ifName);
      if (ips.length === current.ips.length) return;
      const body = { ...existing, status: { ...existing.status, current: { ...current, ips } } };
      await this.custom.replaceNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderEndpoint, namespace, name, body });
    });
  }

  async check(req: CniRequest): Promise<void> {
    const { namespace, name } = req.pod;
    const current = (await this.readEndpoint(namespace, name))?.status?.current;
    if (!current || current.containerID !== req.containerID || !current.ips.some((i) => i.interface === req.ifName)) {
      throw new CniError(CNI_CODE.unknownContainer, `pinpool has no addresses for pod ${namespace}/${name} on ${req.ifName} in sandbox ${req.containerID}`);
    }
  }

  /** STATUS: ready when the API server answers. */
  async status(): Promise<void> {
    await this.core.getAPIResources();
  }
}
