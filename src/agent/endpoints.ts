/**
 * SpiderEndpoints, written off the CNI critical path. The pool's allocation record is the
 * only truth about who holds an address; the endpoint records the sandbox, interface and
 * address for people and for DEL. So an ADD answers once its claim is written and the
 * endpoint follows: retried with jittered back-off, then logged. An agent that dies in
 * between loses nothing: the controller's sweep recreates a missing endpoint from the
 * pools' records (src/controller/endpoint-restore.ts).
 *
 * Work on one pod is queued in order (create after delete, DEL after a pending write), so
 * the process never races itself on one endpoint; across processes each write is a CAS.
 * A write creates first (most ADDs are a pod's first) and reads only when one exists; the
 * endpoint as last stored is remembered, so DEL and the delete after it need no read.
 */
import type * as k8s from "@kubernetes/client-node";
import { API_VERSION, type EndpointIP, GROUP, PLURAL, type SpiderEndpoint, type SpiderIPPool, VERSION } from "../api/types.js";
import { type Family, formatAddress } from "../ip/address.js";
import { parseCidr } from "../ip/cidr.js";
import { DEFAULT_CAS, compareAndSwap } from "../k8s/cas.js";
import { isConflict, isNotFound, orUndefined } from "../k8s/errors.js";
import { KeyedMutex } from "../k8s/keyed-mutex.js";

/** An address an ADD claimed: its family, the pool (as written) and the address. */
export interface Claimed {
  family: Family;
  pool: SpiderIPPool;
  address: bigint;
}

export interface EndpointRecord {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  containerID: string;
  ip: EndpointIP;
  statefulSet?: { name: string; ordinal: number };
}

export interface EndpointWriterOptions {
  /** Attempts for one endpoint write before it is left to the controller's sweep. */
  attempts?: number;
  baseDelayMs?: number;
  /**
   * A pause before each write (PINPOOL_AGENT_ENDPOINT_DELAY_MS). Fault injection for the
   * crash test only: it holds the window between claim and endpoint open so a kill lands
   * in it for sure.
   */
  delayMs?: number;
  log?: { error(o: object, m: string): void };
}

/** Endpoints remembered at most (far more than the pods one node runs). */
const MAX_STORED = 10_000;

export class EndpointWriter {
  private readonly queue = new KeyedMutex();
  private readonly pending = new Map<string, Promise<void>>();
  /**
   * Each pod's endpoint as this agent last stored it (the API server's answer to its write).
   * An entry exists only while the last work on that endpoint succeeded: it is dropped
   * when work starts and set again when it ends well.
   */
  private readonly stored = new Map<string, SpiderEndpoint>();
  private readonly base = { group: GROUP, version: VERSION, plural: PLURAL.SpiderEndpoint };

  constructor(
    private readonly custom: k8s.CustomObjectsApi,
    private readonly o: EndpointWriterOptions = {},
  ) {}

  async read(namespace: string, name: string): Promise<SpiderEndpoint | undefined> {
    return (await orUndefined(this.custom.getNamespacedCustomObject({ ...this.base, namespace, name }))) as SpiderEndpoint | undefined;
  }

  /**
   * The pod's endpoint for DEL: the copy this agent last stored when it is for pod UID
   * `uid`, else read. The caller passes the UID of the pod as it still exists (the node's
   * pod cache): while it exists no other pod of that name can, so no other agent has
   * written a newer sandbox's endpoint since, and this agent's own writes are queued in
   * order (call after settled()). The controller only creates a missing endpoint (then
   * there is no stored copy) or deletes one whose pod is gone.
   */
  async lookup(namespace: string, name: string, uid: string | undefined): Promise<SpiderEndpoint | undefined> {
    const mine = this.stored.get(`${namespace}/${name}`);
    if (uid && mine?.status?.current?.uid === uid) return mine;
    return this.read(namespace, name);
  }

  /** Records `r` in the background; never throws (a failure is logged and left to the sweep). */
  record(r: EndpointRecord): void {
    this.enqueue(r.namespace, r.name, "write", async () => {
      if (this.o.delayMs) await new Promise((done) => setTimeout(done, this.o.delayMs));
      return this.write(r);
    });
  }

  /**
   * In the background: drops interface `ifName` of sandbox `containerID` from the pod's
   * endpoint (a DEL for net1 keeps eth0's entry), and deletes the endpoint once no
   * interface is left.
   */
  forget(namespace: string, name: string, containerID: string, ifName: string, seen?: SpiderEndpoint): void {
    // The first attempt starts from `seen` (what DEL just looked at); a stale copy fails the
    // write's resourceVersion precondition (409) and the next attempt reads.
    let first = seen;
    this.enqueue(namespace, name, "delete", () =>
      compareAndSwap(`SpiderEndpoint ${namespace}/${name}`, async () => {
        const existing = first ?? (await this.read(namespace, name));
        first = undefined;
        const current = existing?.status?.current;
        if (!existing || (current?.containerID && current.containerID !== containerID)) return; // gone, or a newer sandbox's
        const ips = (current?.ips ?? []).filter((i) => i.interface !== ifName);
        if (ips.length === 0 || !current) {
          try {
            await this.custom.deleteNamespacedCustomObject({ ...this.base, namespace, name, body: { preconditions: { resourceVersion: existing.metadata.resourceVersion } } });
          } catch (e) {
            if (!isNotFound(e)) throw e;
          }
          return;
        }
        return (await this.custom.replaceNamespacedCustomObject({ ...this.base, namespace, name, body: { ...existing, status: { ...existing.status, current: { ...current, ips } } } })) as SpiderEndpoint;
      }),
    );
  }

  /** Resolves once the pod's queued endpoint work is done (a DEL must see what its ADD wrote). */
  async settled(namespace: string, name: string): Promise<void> {
    await this.pending.get(`${namespace}/${name}`);
  }

  /** Resolves once every queued endpoint write is done (tests, a clean stop). */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending.values());
  }

  /** Queues `work` on the pod's endpoint; what it resolves to is the endpoint as stored after it (undefined: none). */
  private enqueue(namespace: string, name: string, what: string, work: () => Promise<SpiderEndpoint | undefined | void>): void {
    const key = `${namespace}/${name}`;
    const done = this.queue
      .run(key, async () => {
        this.stored.delete(key);
        const after = await this.retried(work);
        if (!after) return;
        this.stored.set(key, after);
        // Bounded: a pod that went without a DEL here (its node was lost, say) leaves an entry.
        if (this.stored.size > MAX_STORED) this.stored.delete(this.stored.keys().next().value as string);
      })
      .catch((e: unknown) => this.o.log?.error({ err: e, endpoint: key, what }, "SpiderEndpoint write failed; the controller's sweep restores it from the pool's record"))
      .finally(() => {
        if (this.pending.get(key) === done) this.pending.delete(key);
      });
    this.pending.set(key, done);
  }

  private async retried<T>(work: () => Promise<T>): Promise<T> {
    const attempts = this.o.attempts ?? 5;
    for (let i = 1; ; i++) {
      try {
        return await work();
      } catch (e) {
        if (i >= attempts) throw e;
        await new Promise((r) => setTimeout(r, Math.random() * (this.o.baseDelayMs ?? 100) * 2 ** i));
      }
    }
  }

  /** Creates or updates the endpoint; resolves to it as stored. */
  private async write(r: EndpointRecord): Promise<SpiderEndpoint> {
    const status: SpiderEndpoint["status"] = {
      current: { uid: r.uid, node: r.node, containerID: r.containerID, ips: [r.ip] },
      ...(r.statefulSet ? { ownerControllerType: "StatefulSet", ownerControllerName: r.statefulSet.name } : {}),
    };
    const at = { ...this.base, namespace: r.namespace };
    // A 409 (AlreadyExists) from a create sends the CAS loop round to read and update.
    const create = async (): Promise<SpiderEndpoint> =>
      (await this.custom.createNamespacedCustomObject({ ...at, body: { apiVersion: API_VERSION, kind: "SpiderEndpoint", metadata: { name: r.name, namespace: r.namespace }, status } })) as SpiderEndpoint;
    // No read before the first create: most ADDs are the pod's first.
    try {
      return await create();
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
    return compareAndSwap(
      `SpiderEndpoint ${r.namespace}/${r.name}`,
      async () => {
        const existing = await this.read(r.namespace, r.name);
        if (!existing) return create();
        // Other interfaces of the same sandbox keep their entries.
        const others = existing.status?.current?.containerID === r.containerID ? (existing.status.current.ips ?? []).filter((i) => i.interface !== r.ip.interface) : [];
        const current = { ...(status.current as NonNullable<typeof status.current>), ips: [...others, r.ip] };
        return (await this.custom.replaceNamespacedCustomObject({ ...at, name: r.name, body: { ...existing, status: { ...status, current } } })) as SpiderEndpoint;
      },
      DEFAULT_CAS,
    );
  }
}

/** The endpoint entry of one interface: its addresses, pools and gateways. */
export function endpointIP(ifName: string, claimed: Claimed[]): EndpointIP {
  const ip: EndpointIP = { interface: ifName };
  for (const c of claimed) {
    const prefix = parseCidr(c.pool.spec.subnet).prefix;
    const key = c.family === 4 ? "ipv4" : "ipv6";
    ip[key] = `${formatAddress(c.family, c.address)}/${prefix}`;
    ip[`${key}Pool`] = c.pool.metadata.name;
    if (c.pool.spec.gateway) ip[`${key}Gateway`] = c.pool.spec.gateway;
  }
  return ip;
}
