/**
 * The agent's ADD against a fake API server: which pool serves which pod (src/api/pool-affinity.ts)
 * and what each ADD reads to know it (src/agent/affinity-facts.ts).
 */
import { expect } from "chai";
import { ApiException, type V1Pod, type V1ReplicaSet } from "@kubernetes/client-node";
import type { NodeCaches } from "../../../src/agent/caches.js";
import { CniError, type CniRequest } from "../../../src/agent/protocol.js";
import { fakeIpam, poolWrites } from "./fake-api.js";
import { parseAddressSpec } from "../../../src/api/address-spec.js";
import { autoPoolName, type WorkloadRef } from "../../../src/api/names.js";
import type { SpiderIPPool, SpiderSubnet } from "../../../src/api/types.js";
import { RangeSet } from "../../../src/ip/range-set.js";
import { isTransient } from "../../../src/k8s/transient.js";
import { autoPoolObject } from "../../../src/reservation/auto-pool.js";

const payments: WorkloadRef = { namespace: "prod", kind: "Deployment", name: "payments" };

function autoPool(workload: WorkloadRef): SpiderIPPool {
  const subnet: SpiderSubnet = { apiVersion: "spiderpool.spidernet.io/v2beta1", kind: "SpiderSubnet", metadata: { name: "s" }, spec: { subnet: "10.1.0.0/16" } };
  const spec = parseAddressSpec(subnet.spec);
  const plan = { name: autoPoolName(workload, "eth0", 4, "s"), interface: "eth0", family: 4 as const, subnet: "s", size: 3 };
  const pool = autoPoolObject(workload, plan, true, { object: subnet, spec }, RangeSet.of(4, spec.cidr.base + 10n, spec.cidr.base + 12n));
  return { ...pool, metadata: { ...pool.metadata, resourceVersion: "1" } };
}
const auto = autoPool(payments);
const autoName = auto.metadata.name as string;
const rackA: SpiderIPPool = { apiVersion: "spiderpool.spidernet.io/v2beta1", kind: "SpiderIPPool", metadata: { name: "rack-a", resourceVersion: "1" }, spec: { subnet: "10.2.0.0/24", ips: ["10.2.0.10-10.2.0.12"], nodeName: ["node2"] } };
const open: SpiderIPPool = { ...rackA, metadata: { name: "open", resourceVersion: "1" }, spec: { subnet: "10.3.0.0/24", ips: ["10.3.0.10-10.3.0.12"] } };

const named = (pool: string) => ({ "ipam.spidernet.io/ippool": JSON.stringify({ ipv4: [pool] }) });
const rsRef = (uid: string) => ({ apiVersion: "apps/v1", kind: "ReplicaSet", name: "payments-7d9f", uid, controller: true });
const rsOwner = [rsRef("rs-1")];
/** Deployment payments' ReplicaSet in `namespace`. */
const paymentsRS = (namespace: string, uid: string): V1ReplicaSet => ({
  metadata: { name: "payments-7d9f", namespace, uid, ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: "payments", uid: `d-${namespace}`, controller: true }] },
});
const replicaSets = [paymentsRS("prod", "rs-1"), paymentsRS("dev", "rs-dev")];

/** An API server with pods, ReplicaSets and pools; records every read and answers status writes. */
function fakeCluster(o: { pods: V1Pod[]; pools: SpiderIPPool[]; replicaSetFailures?: number }) {
  const reads: string[] = [];
  const pools = new Map(o.pools.map((p) => [p.metadata.name as string, structuredClone(p)]));
  let failures = o.replicaSetFailures ?? 0;
  const notFound = () => Promise.reject(new ApiException<unknown>(404, "Not Found", "{}", {}));
  const core = {
    readNamespacedPod: ({ namespace, name }: { namespace: string; name: string }) => {
      reads.push(`pod ${namespace}/${name}`);
      const pod = o.pods.find((p) => p.metadata?.namespace === namespace && p.metadata.name === name);
      return pod ? Promise.resolve(structuredClone(pod)) : notFound();
    },
    readNamespace: ({ name }: { name: string }) => {
      reads.push(`namespace ${name}`);
      return Promise.resolve({ metadata: { name } });
    },
    readNode: ({ name }: { name: string }) => {
      reads.push(`node ${name}`);
      return Promise.resolve({ metadata: { name } });
    },
  };
  const apps = {
    readNamespacedReplicaSet: ({ namespace, name }: { namespace: string; name: string }) => {
      reads.push(`replicaset ${namespace}/${name}`);
      if (failures-- > 0) return Promise.reject(new ApiException<unknown>(503, "Service Unavailable", "{}", {}));
      const rs = replicaSets.find((r) => r.metadata?.namespace === namespace && r.metadata.name === name);
      return rs ? Promise.resolve(structuredClone(rs)) : notFound();
    },
  };
  const custom = {
    getClusterCustomObject: ({ name }: { name: string }) => {
      reads.push(`spiderippool ${name}`);
      const pool = pools.get(name);
      return pool ? Promise.resolve(structuredClone(pool)) : notFound();
    },
    listClusterCustomObject: ({ plural }: { plural: string }) => Promise.resolve({ items: plural === "spiderippools" ? [...pools.values()] : [] }),
    ...poolWrites(pools),
  };
  const ipam = (caches?: NodeCaches) => fakeIpam({ core, apps, custom }, caches);
  return { ipam, reads, pools };
}

const add = (namespace: string, name: string): CniRequest => ({ command: "ADD", containerID: `c-${name}`, ifName: "eth0", args: {}, cniVersion: "1.0.0", config: {}, pod: { namespace, name } });
const failure = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe("agent/Ipam: which pool serves which pod", () => {
  it("refuses prod's auto pool to a bare pod in dev that names it and wrote its app-* labels: code 101 naming the pool and why, no ReplicaSet read", async () => {
    const forged: V1Pod = { metadata: { name: "thief", namespace: "dev", uid: "t", labels: auto.spec.podAffinity?.matchLabels ?? {}, annotations: named(autoName) } };
    const c = fakeCluster({ pods: [forged], pools: [auto] });
    const e = await failure(c.ipam().add(add("dev", "thief")));
    expect(e).to.be.instanceOf(CniError);
    expect(e).to.deep.include({
      code: 101,
      msg: "no usable IPv4 pool for pod dev/thief",
      details: `from annotation ipam.spidernet.io/ippool: SpiderIPPool "${autoName}" does not serve pod dev/thief: it is the auto pool of Deployment prod/payments, and the pod belongs to no workload (it has no controller, or its ReplicaSet is gone)`,
    });
    expect(c.reads.filter((r) => r.startsWith("replicaset"))).to.deep.equal([]);
  });

  it("gives a pod of prod/payments' ReplicaSet an address from the Deployment's auto pool, reading the ReplicaSet once for two pods", async () => {
    const pod = (name: string): V1Pod => ({ metadata: { name, namespace: "prod", uid: name, ownerReferences: rsOwner, annotations: { "pinpool.io/reserved-ippools": JSON.stringify([{ interface: "eth0", ipv4: [autoName] }]) } } });
    const c = fakeCluster({ pods: [pod("payments-7d9f-a"), pod("payments-7d9f-b")], pools: [auto] });
    const ipam = c.ipam();
    expect((await ipam.add(add("prod", "payments-7d9f-a"))).ips).to.deep.equal([{ address: "10.1.0.10/16" }]);
    expect((await ipam.add(add("prod", "payments-7d9f-b"))).ips).to.deep.equal([{ address: "10.1.0.11/16" }]);
    expect(c.reads.filter((r) => r.startsWith("replicaset"))).to.deep.equal(["replicaset prod/payments-7d9f"]);
    await ipam.endpoints.drain();
  });

  it("refuses the auto pool to a pod in dev whose own Deployment has the same name, and to one that names a ReplicaSet that is gone", async () => {
    const devPod = (name: string, uid: string): V1Pod => ({ metadata: { name, namespace: "dev", uid: name, ownerReferences: [rsRef(uid)], annotations: named(autoName) } });
    const c = fakeCluster({ pods: [devPod("payments-7d9f-a", "rs-dev"), devPod("payments-7d9f-b", "rs-gone")], pools: [auto] });
    const ipam = c.ipam();
    const e = await failure(ipam.add(add("dev", "payments-7d9f-a")));
    expect(e).to.deep.include({ code: 101 });
    expect((e as CniError).details).to.include("it is the auto pool of Deployment prod/payments, and the pod belongs to Deployment dev/payments");
    // Its ownerReference names a ReplicaSet UID that no longer exists (the one there is another): a bare pod.
    expect(((await failure(ipam.add(add("dev", "payments-7d9f-b")))) as CniError).details).to.include("and the pod belongs to no workload");
  });

  it("passes a 503 from the ReplicaSet read up as transient (the agent runs the ADD again, then answers code 11)", async () => {
    const pod: V1Pod = { metadata: { name: "payments-7d9f-a", namespace: "prod", uid: "a", ownerReferences: rsOwner, annotations: named(autoName) } };
    const c = fakeCluster({ pods: [pod], pools: [auto], replicaSetFailures: 1 });
    const ipam = c.ipam();
    expect(isTransient(await failure(ipam.add(add("prod", "payments-7d9f-a"))))).to.equal(true);
    expect((await ipam.add(add("prod", "payments-7d9f-a"))).ips).to.have.length(1);
    await ipam.endpoints.drain();
  });

  it("says which pool refused a pod on another node and why, reading nothing but the pod and the pools it names", async () => {
    const pod: V1Pod = { metadata: { name: "p", namespace: "t", uid: "p", ownerReferences: rsOwner, annotations: { "ipam.spidernet.io/ippool": '{"ipv4":["rack-a","open"]}' } } };
    const c = fakeCluster({ pods: [pod], pools: [rackA, open] });
    const ipam = c.ipam();
    expect((await ipam.add(add("t", "p"))).ips).to.deep.equal([{ address: "10.3.0.10/24" }]);
    expect(c.reads).to.deep.equal(["pod t/p", "spiderippool rack-a", "spiderippool open"]);
    const alone = fakeCluster({ pods: [{ ...pod, metadata: { ...pod.metadata, annotations: named("rack-a") } }], pools: [rackA] });
    expect(await failure(alone.ipam().add(add("t", "p")))).to.deep.include({
      code: 101,
      details: 'from annotation ipam.spidernet.io/ippool: SpiderIPPool "rack-a" does not serve node "node1": spec.nodeName is ["node2"]',
    });
    await ipam.endpoints.drain();
  });

  it("reads the namespace of pods that name no pool once for a burst of their ADDs, not once each", async () => {
    const defaultPool: SpiderIPPool = { ...open, spec: { ...open.spec, default: true } };
    const pod = (name: string): V1Pod => ({ metadata: { name, namespace: "t", uid: name } });
    const c = fakeCluster({ pods: ["a", "b", "c"].map(pod), pools: [defaultPool] });
    const ipam = c.ipam();
    const answers = await Promise.all(["a", "b", "c"].map(async (n) => (await ipam.add(add("t", n))).ips));
    expect(answers).to.deep.equal([[{ address: "10.3.0.10/24" }], [{ address: "10.3.0.11/24" }], [{ address: "10.3.0.12/24" }]]);
    expect(c.reads.filter((r) => r.startsWith("namespace"))).to.deep.equal(["namespace t"]);
    await ipam.endpoints.drain();
  });

  it("with the watch cache, looks up what the cached pool asks before deciding, so the claim is decided once", async () => {
    const pod: V1Pod = { metadata: { name: "payments-7d9f-a", namespace: "prod", uid: "a", ownerReferences: rsOwner, annotations: named(autoName) } };
    const c = fakeCluster({ pods: [pod], pools: [auto] });
    let poolLookups = 0;
    const caches = {
      pod: () => pod,
      pool: (name: string) => {
        poolLookups++;
        return c.pools.get(name);
      },
      allPools: () => [...c.pools.values()],
      poolSpecRevision: () => 1,
      reserved: () => ({ 4: RangeSet.empty(4), 6: RangeSet.empty(6) }),
    };
    const ipam = c.ipam(caches as unknown as NodeCaches);
    expect((await ipam.add(add("prod", "payments-7d9f-a"))).ips).to.deep.equal([{ address: "10.1.0.10/16" }]);
    expect(poolLookups).to.equal(2); // the look-ahead and one decision
    expect(c.reads).to.deep.equal(["replicaset prod/payments-7d9f"]);
    await ipam.endpoints.drain();
  });
});
