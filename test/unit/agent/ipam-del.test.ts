/**
 * The agent's DEL against a fake API server when the pod has no SpiderEndpoint: it releases
 * what the pools' records say the pod holds, whatever its annotations say, so a malformed
 * one never keeps the runtime from tearing the sandbox down (issue 20); and whose
 * StatefulSet ordinal a pod is, for ADD and DEL.
 */
import { expect } from "chai";
import { ApiException, type V1Namespace, type V1Pod, type V1StatefulSet } from "@kubernetes/client-node";
import type { NodeCaches } from "../../../src/agent/caches.js";
import { CniError, type CniRequest } from "../../../src/agent/protocol.js";
import { fakeIpam, poolWrites } from "./fake-api.js";
import type { SpiderIPPool } from "../../../src/api/types.js";
import { AllocationRecord } from "../../../src/ip/allocation-record.js";
import { parseAddress } from "../../../src/ip/address.js";
import { RangeSet } from "../../../src/ip/range-set.js";

/** Pool `name` in 10.0.<n>.0/24 whose record gives its lowest addresses to `holders`, in order. */
function pool(name: string, n: number, holders: string[], labels?: Record<string, string>): SpiderIPPool {
  const record = new AllocationRecord(4);
  holders.forEach((h, i) => record.allocate(parseAddress(`10.0.${n}.${10 + i}`).value, h));
  return {
    apiVersion: "spiderpool.spidernet.io/v2beta1",
    kind: "SpiderIPPool",
    metadata: { name, resourceVersion: "1", ...(labels ? { labels } : {}) },
    spec: { subnet: `10.0.${n}.0/24`, ips: [`10.0.${n}.10-10.0.${n}.20`] },
    status: { allocations: record.encode(), allocatedIPCount: record.count },
  };
}

/** Who pool `name` (as stored) says holds an address. */
const holdersOf = (pools: Map<string, SpiderIPPool>, name: string): string[] => [...AllocationRecord.decode(4, pools.get(name)?.status?.allocations).holders()];

/** An API server with pods, namespaces, StatefulSets and pools, and no SpiderEndpoint; records every read. */
function fakeCluster(o: { pods: V1Pod[]; pools: SpiderIPPool[]; namespaces?: V1Namespace[]; statefulSets?: V1StatefulSet[] }) {
  const reads: string[] = [];
  const pools = new Map(o.pools.map((p) => [p.metadata.name as string, structuredClone(p)]));
  const notFound = () => Promise.reject(new ApiException<unknown>(404, "Not Found", "{}", {}));
  const found = <T>(what: string, x: T | undefined) => {
    reads.push(what);
    return x ? Promise.resolve(structuredClone(x)) : notFound();
  };
  const core = {
    readNamespacedPod: ({ namespace, name }: { namespace: string; name: string }) => found(`pod ${namespace}/${name}`, o.pods.find((p) => p.metadata?.namespace === namespace && p.metadata.name === name)),
    readNamespace: ({ name }: { name: string }) => found(`namespace ${name}`, o.namespaces?.find((n) => n.metadata?.name === name) ?? { metadata: { name } }),
  };
  const apps = {
    readNamespacedStatefulSet: ({ namespace, name }: { namespace: string; name: string }) =>
      found(`statefulset ${namespace}/${name}`, o.statefulSets?.find((s) => s.metadata?.namespace === namespace && s.metadata.name === name)),
  };
  const custom = {
    getNamespacedCustomObject: ({ namespace, name }: { namespace: string; name: string }) => found(`spiderendpoint ${namespace}/${name}`, undefined),
    getClusterCustomObject: ({ name }: { name: string }) => found(`spiderippool ${name}`, pools.get(name)),
    listClusterCustomObject: ({ plural }: { plural: string }) => {
      reads.push(`list ${plural}`);
      return Promise.resolve({ items: plural === "spiderippools" ? [...pools.values()].map((p) => structuredClone(p)) : [] });
    },
    ...poolWrites(pools),
  };
  const ipam = (caches?: NodeCaches) => fakeIpam({ core, apps, custom }, caches);
  return { ipam, reads, pools };
}

const request = (command: CniRequest["command"], namespace: string, name: string, ifName = "eth0"): CniRequest => ({
  command,
  containerID: `c-${name}`,
  ifName,
  args: {},
  cniVersion: "1.0.0",
  config: {},
  pod: { namespace, name },
});
const failure = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );
const bare = (name: string, annotations: Record<string, string> = {}): V1Pod => ({ metadata: { name, namespace: "t", uid: name, annotations } });

const MALFORMED: Record<string, string>[] = [
  { "ipam.spidernet.io/ippool": "{not json" },
  { "ipam.spidernet.io/ippool": '{"ipv4":"p"}' },
  { "ipam.spidernet.io/ippools": '[{"interface":"eth0","ipv4":"p"}]' },
  { "ipam.spidernet.io/subnet": "{not json" },
  { "ipam.spidernet.io/subnets": "[" },
  { "pinpool.io/reserved-ippools": "{not json" },
];

describe("agent/Ipam DEL without an endpoint: the pools' records, never the pod's annotations", () => {
  it("releases a pod with ipam.spidernet.io/ippool '{not json' and no endpoint, leaving the pool's other holders", async () => {
    const c = fakeCluster({ pods: [bare("a", { "ipam.spidernet.io/ippool": "{not json" })], pools: [pool("p", 0, ["t/b", "t/a", "t/ab"])] });
    await c.ipam().del(request("DEL", "t", "a"));
    expect(holdersOf(c.pools, "p")).to.deep.equal(["t/b", "t/ab"]);
    expect(c.pools.get("p")?.status?.allocatedIPCount).to.equal(2);
  });

  for (const annotations of MALFORMED) {
    it(`resolves and releases with ${JSON.stringify(annotations)}`, async () => {
      const c = fakeCluster({ pods: [bare("a", annotations)], pools: [pool("p", 0, ["t/a"]), pool("q", 1, ["t/other"])] });
      await c.ipam().del(request("DEL", "t", "a"));
      expect(holdersOf(c.pools, "p")).to.deep.equal([]);
      expect(holdersOf(c.pools, "q")).to.deep.equal(["t/other"]);
    });
  }

  it("resolves and releases when the namespace's default-pool annotation is malformed, reading no namespace", async () => {
    const ns: V1Namespace = { metadata: { name: "t", annotations: { "ipam.spidernet.io/default-ipv4-ippool": "nope" } } };
    const c = fakeCluster({ pods: [bare("a")], pools: [pool("p", 0, ["t/a"])], namespaces: [ns] });
    await c.ipam().del(request("DEL", "t", "a"));
    expect(holdersOf(c.pools, "p")).to.deep.equal([]);
    expect(c.reads.filter((r) => r.startsWith("namespace"))).to.deep.equal([]);
  });

  it("with a valid annotation, releases what the records say, also from a pool the annotation no longer names", async () => {
    const c = fakeCluster({ pods: [bare("a", { "ipam.spidernet.io/ippool": '{"ipv4":["p"]}' })], pools: [pool("p", 0, ["t/a"]), pool("old", 1, ["t/a"])] });
    const ipam = c.ipam();
    await ipam.del(request("DEL", "t", "a"));
    expect([holdersOf(c.pools, "p"), holdersOf(c.pools, "old")]).to.deep.equal([[], []]);
    await ipam.del(request("DEL", "t", "a")); // idempotent
  });

  it("leaves a pool labelled for another interface to that interface's DEL, and an unlabelled pool's unrecorded address to eth0's", async () => {
    const net1 = { "ipam.spidernet.io/interface": "net1" };
    const c = fakeCluster({ pods: [bare("a")], pools: [pool("eth0-pool", 0, ["t/a"], { "ipam.spidernet.io/interface": "eth0" }), pool("net1-pool", 1, ["t/a"], net1), pool("plain", 2, ["t/a"])] });
    const ipam = c.ipam();
    await ipam.del(request("DEL", "t", "a", "net1"));
    // An address recording no interface may be eth0's (an older agent gave eth0 and net1 of one pool the same one).
    expect(["eth0-pool", "net1-pool", "plain"].map((p) => holdersOf(c.pools, p))).to.deep.equal([["t/a"], [], ["t/a"]]);
    await ipam.del(request("DEL", "t", "a", "eth0"));
    expect(["eth0-pool", "net1-pool", "plain"].map((p) => holdersOf(c.pools, p))).to.deep.equal([[], [], []]);
  });

  it("releases nothing when the pod of that name is a newer one (another UID): its address is the new pod's", async () => {
    const c = fakeCluster({ pods: [bare("a")], pools: [pool("p", 0, ["t/a"])] });
    await c.ipam().del({ ...request("DEL", "t", "a"), pod: { namespace: "t", name: "a", uid: "the-old-pod" } });
    expect(holdersOf(c.pools, "p")).to.deep.equal(["t/a"]);
  });

  it("skips a pool it cannot read (bad spec.ips) and releases the others, instead of failing the DEL for ever", async () => {
    const broken = pool("broken", 0, ["t/a"]);
    broken.spec = { ...broken.spec, ips: ["10.0.0.999"] };
    const c = fakeCluster({ pods: [bare("a")], pools: [broken, pool("p", 1, ["t/a"])] });
    await c.ipam().del(request("DEL", "t", "a"));
    expect([holdersOf(c.pools, "broken"), holdersOf(c.pools, "p")]).to.deep.equal([["t/a"], []]);
  });

  describe("a StatefulSet pod with a malformed annotation", () => {
    const web2: V1Pod = {
      metadata: { name: "web-2", namespace: "t", uid: "w2", annotations: { "ipam.spidernet.io/ippool": "{not json" }, ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "web", uid: "s", controller: true }] },
    };
    const web = (replicas: number): V1StatefulSet => ({ metadata: { name: "web", namespace: "t", uid: "s" }, spec: { replicas } as V1StatefulSet["spec"] });

    it("keeps the address while the set keeps its ordinal", async () => {
      const c = fakeCluster({ pods: [web2], pools: [pool("p", 0, ["t/web/2"])], statefulSets: [web(3)] });
      await c.ipam().del(request("DEL", "t", "web-2"));
      expect(holdersOf(c.pools, "p")).to.deep.equal(["t/web/2"]);
    });

    it("releases the ordinal's address once the set is scaled below it", async () => {
      const c = fakeCluster({ pods: [web2], pools: [pool("p", 0, ["t/web/2", "t/web-2"])], statefulSets: [web(2)] });
      await c.ipam().del(request("DEL", "t", "web-2"));
      expect(holdersOf(c.pools, "p")).to.deep.equal(["t/web-2"]); // the ordinal's key, not a namesake's
    });
  });

  it("with the watch cache, finds the pools in it without listing them", async () => {
    const c = fakeCluster({ pods: [bare("a", { "ipam.spidernet.io/ippool": "{not json" })], pools: [pool("p", 0, ["t/a"])] });
    const caches = {
      pod: () => bare("a", { "ipam.spidernet.io/ippool": "{not json" }),
      pool: (name: string) => c.pools.get(name),
      allPools: () => [...c.pools.values()],
      poolSpecRevision: () => 1,
      reserved: () => ({ 4: RangeSet.empty(4), 6: RangeSet.empty(6) }),
    };
    await c.ipam(caches as unknown as NodeCaches).del(request("DEL", "t", "a"));
    expect(holdersOf(c.pools, "p")).to.deep.equal([]);
    expect(c.reads).to.deep.equal(["spiderendpoint t/a"]);
  });
});

describe("agent/Ipam ADD and CHECK with a malformed annotation", () => {
  it("ADD still fails with code 100 naming the annotation and its value", async () => {
    const c = fakeCluster({ pods: [bare("a", { "ipam.spidernet.io/ippool": "{not json" })], pools: [pool("p", 0, [])] });
    const e = await failure(c.ipam().add(request("ADD", "t", "a")));
    expect(e).to.be.instanceOf(CniError);
    expect(e).to.deep.include({ code: 100, msg: "pod t/a has a malformed pool annotation" });
    expect((e as CniError).details).to.match(/^annotation ipam\.spidernet\.io\/ippool: "\{not json" is not valid JSON; expected \{"ipv4":\["<pool>"\],"ipv6":\["<pool>"\]\}$/);
    expect(holdersOf(c.pools, "p")).to.deep.equal([]);
  });

  it("CHECK answers from the endpoint alone: code 3 saying pinpool has no addresses, never the annotation's code 100", async () => {
    const c = fakeCluster({ pods: [bare("a", { "ipam.spidernet.io/ippool": "{not json" })], pools: [] });
    expect(await failure(c.ipam().check(request("CHECK", "t", "a")))).to.deep.include({ code: 3, msg: "pinpool has no addresses for pod t/a on eth0 in sandbox c-a" });
  });
});

describe("agent/Ipam: a pod whose ownerReference names a StatefulSet is its ordinal only if the API server says so", () => {
  const claiming = (uid: string): V1Pod => ({ metadata: { name: "web-1", namespace: "t", uid: "p1", ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "web", uid, controller: true }] } });
  const web = (replicas: number): V1StatefulSet => ({ metadata: { name: "web", namespace: "t", uid: "real" }, spec: { replicas } as V1StatefulSet["spec"] });
  const named = (pod: V1Pod): V1Pod => ({ ...pod, metadata: { ...pod.metadata, annotations: { "ipam.spidernet.io/ippool": '{"ipv4":["p"]}' } } });

  it("ADD: a pod naming set web with another UID is told to come back, and takes neither ordinal 1's address nor a new one", async () => {
    const c = fakeCluster({ pods: [named(claiming("forged"))], pools: [pool("p", 0, ["t/web/1"])], statefulSets: [web(3)] });
    const ipam = c.ipam();
    const refused = await ipam.add(request("ADD", "t", "web-1")).then(() => undefined, (e: unknown) => e as { code: number; msg: string });
    expect(refused).to.deep.include({ code: 11, msg: "pod t/web-1 names StatefulSet web (UID forged) as its controller, which the API server does not have" });
    expect(holdersOf(c.pools, "p")).to.deep.equal(["t/web/1"]);
    await ipam.endpoints.drain();
  });

  it("ADD: a pod of the set as the API server has it gets its ordinal's address, the set read once for its pods", async () => {
    const c = fakeCluster({ pods: [named(claiming("real"))], pools: [pool("p", 0, ["t/web/1"])], statefulSets: [web(3)] });
    const ipam = c.ipam();
    expect((await ipam.add(request("ADD", "t", "web-1"))).ips).to.deep.equal([{ address: "10.0.0.10/24" }]);
    expect((await ipam.add(request("ADD", "t", "web-1"))).ips).to.deep.equal([{ address: "10.0.0.10/24" }]);
    expect(c.reads.filter((r) => r.startsWith("statefulset"))).to.deep.equal(["statefulset t/web"]);
    await ipam.endpoints.drain();
  });

  it("ADD: a pod naming a set that does not exist (deleted with --cascade=orphan, the reference not dropped yet) is told to come back", async () => {
    const c = fakeCluster({ pods: [named(claiming("real"))], pools: [pool("p", 0, ["t/web/1"])] });
    const ipam = c.ipam();
    const refused = await ipam.add(request("ADD", "t", "web-1")).then(() => undefined, (e: unknown) => e as { code: number });
    expect(refused).to.deep.include({ code: 11 });
    expect(holdersOf(c.pools, "p")).to.deep.equal(["t/web/1"]);
    await ipam.endpoints.drain();
  });

  it("DEL without an endpoint: a pod naming set web with another UID releases none of ordinal 1's address, even scaled below it", async () => {
    const c = fakeCluster({ pods: [claiming("forged")], pools: [pool("p", 0, ["t/web/1", "t/web-1"])], statefulSets: [web(1)] });
    await c.ipam().del(request("DEL", "t", "web-1"));
    expect(holdersOf(c.pools, "p")).to.deep.equal(["t/web/1"]);
  });

  it("DEL without an endpoint: the set's own pod releases its ordinal's address once scaled below it, and so does one of a set that is gone", async () => {
    for (const statefulSets of [[web(1)], []]) {
      const c = fakeCluster({ pods: [claiming("real")], pools: [pool("p", 0, ["t/web/1", "t/web-1"])], statefulSets });
      await c.ipam().del(request("DEL", "t", "web-1"));
      expect(holdersOf(c.pools, "p"), `${statefulSets.length} sets`).to.deep.equal(["t/web-1"]);
    }
  });
});
