import { expect } from "chai";
import type * as k8s from "@kubernetes/client-node";
import { type Scope, SweepScope, judged } from "../../../src/controller/sweep-scope.js";
import { keepPod, keepWorkload } from "../../../src/controller/cluster-cache.js";
import { OWNER_ANNOTATION } from "../../../src/api/auto-pool-owner.js";
import { ANNOTATION } from "../../../src/api/annotations.js";
import type { SpiderEndpoint, SpiderIPPool, SpiderSubnet } from "../../../src/api/types.js";
import { parseAddress } from "../../../src/ip/address.js";
import { AllocationRecord } from "../../../src/ip/allocation-record.js";
import type { AllocationsStatus } from "../../../src/ip/allocation-status.js";

/** A pool whose status.allocations records `held` (one address each), by the real encoder. */
function pool(name: string, held: string[], o: { owner?: string; ips?: string[]; deleting?: string } = {}): SpiderIPPool {
  const record = new AllocationRecord(4);
  held.forEach((holder, i) => record.allocate(parseAddress(`10.0.0.${i + 1}`).value, holder));
  return {
    apiVersion: "spiderpool.spidernet.io/v2beta1",
    kind: "SpiderIPPool",
    metadata: { name, ...(o.owner ? { annotations: { [OWNER_ANNOTATION]: o.owner } } : {}), ...(o.deleting ? { deletionTimestamp: o.deleting } : {}) },
    spec: { subnet: "10.0.0.0/24", ips: o.ips ?? ["10.0.0.1-10.0.0.20"] },
    status: { allocations: record.encode(), allocatedIPCount: held.length },
  };
}
type PodOpts = { uid?: string; node?: string; phase?: string; deleting?: boolean; annotations?: Record<string, string>; noise?: string };
/** Pod ns/a as the API server sends it; `noise` changes only what keepPod drops. */
const rawPod = (o: PodOpts = {}): k8s.V1Pod => ({
  metadata: { namespace: "ns", name: "a", uid: o.uid ?? "a-1", resourceVersion: o.noise ?? "1", labels: { app: o.noise ?? "x" }, annotations: { other: o.noise ?? "x", ...o.annotations }, ...(o.deleting ? { deletionTimestamp: new Date(Date.UTC(2026, 0, 1)) } : {}) },
  spec: { nodeName: o.node ?? "n1", containers: [{ name: "c", image: `nginx:${o.noise ?? "1"}` }] },
  status: { phase: o.phase ?? "Running", podIP: o.noise ?? "10.1.0.1" },
});
const pod = (o: PodOpts = {}): k8s.V1Pod => keepPod(rawPod(o));
const endpoint = (namespace: string, name: string, type: string, owner: string): SpiderEndpoint => ({
  apiVersion: "spiderpool.spidernet.io/v2beta1",
  kind: "SpiderEndpoint",
  metadata: { namespace, name },
  status: { ownerControllerType: type, ownerControllerName: owner },
});
const statefulSet = (replicas: number, o: { readyReplicas?: number; image?: string } = {}): k8s.V1StatefulSet =>
  keepWorkload({
    metadata: { namespace: "ns", name: "web", uid: "web-1" },
    spec: { replicas, serviceName: "web", selector: {}, template: { metadata: { annotations: { a: "b" } }, spec: { containers: [{ name: "c", image: o.image ?? "nginx:1" }] } } },
    status: { replicas, readyReplicas: o.readyReplicas ?? 0 },
  });
const deployment = (replicas: number): k8s.V1Deployment => keepWorkload({ metadata: { namespace: "ns", name: "d", uid: "d-1" }, spec: { replicas, selector: {}, template: {} } });

const sorted = (set: Set<string>): string[] => [...set].sort();
const named = (s: Scope) => ({ full: s.full, pools: sorted(s.pools), workloads: sorted(s.workloads), endpoints: sorted(s.endpoints), pods: sorted(s.pods), ledgers: s.ledgers, conflicts: s.conflicts });
const nothing = { full: false, pools: [], workloads: [], endpoints: [], pods: [], ledgers: false, conflicts: false };
const everything = { ...nothing, full: true, ledgers: true, conflicts: true };
/** A scope past its first (full) sweep. */
const fresh = (): SweepScope => {
  const s = new SweepScope();
  s.take();
  return s;
};

describe("controller/SweepScope (what the next sweep judges)", () => {
  it("takes a full scope first, then only what changed; take(true) and everything() ask for a full one", () => {
    const s = new SweepScope();
    expect(named(s.take())).to.deep.equal(everything);
    expect(named(s.take())).to.deep.equal(nothing);
    expect(named(s.take(true))).to.deep.equal(everything);
    expect(named(s.take())).to.deep.equal(nothing);
    s.everything();
    expect(named(s.take())).to.deep.equal(everything);
  });

  it("a pool change names the pool, its owner workload and its new holders' pods; only spec, deletion, add or delete reach ledgers and conflicts", () => {
    const s = fresh();
    const owner = "ns/Deployment/d";
    const added = pool("p", ["ns/a", "ns/web/0"], { owner });
    s.pool(undefined, added);
    expect(named(s.take())).to.deep.equal({ ...nothing, pools: ["p"], workloads: ["Deployment/ns/d"], pods: ["ns/a", "ns/web-0"], ledgers: true, conflicts: true });
    const released = pool("p", ["ns/a"], { owner }); // status only, a holder gone: no pod came to hold an address
    s.pool(added, released);
    expect(named(s.take())).to.deep.equal({ ...nothing, pools: ["p"], workloads: ["Deployment/ns/d"] });
    const claimed = pool("p", ["ns/a", "ns/b"], { owner }); // a new holder: its endpoint may be missing
    s.pool(released, claimed);
    expect(named(s.take())).to.deep.equal({ ...nothing, pools: ["p"], workloads: ["Deployment/ns/d"], pods: ["ns/b"] });
    s.pool(claimed, released);
    s.take();
    const grown = pool("p", ["ns/a"], { owner, ips: ["10.0.0.1-10.0.0.30"] });
    s.pool(released, grown);
    expect(named(s.take())).to.include({ ledgers: true, conflicts: true });
    const deleting = pool("p", ["ns/a"], { owner, ips: ["10.0.0.1-10.0.0.30"], deleting: "2026-01-01T00:00:00Z" });
    s.pool(grown, deleting);
    expect(named(s.take())).to.include({ ledgers: true, conflicts: true });
    s.pool(deleting, undefined);
    expect(named(s.take())).to.deep.equal({ ...nothing, pools: ["p"], workloads: ["Deployment/ns/d"], ledgers: true, conflicts: true });
  });

  it("a pod change names the pools recording it, its endpoint and itself, until the pool no longer records it", () => {
    const s = fresh();
    const p = pool("p", ["ns/a"]);
    s.pool(undefined, p);
    s.take();
    const changes: Array<[string, k8s.V1Pod | undefined]> = [
      ["node", pod({ node: "n2" })],
      ["phase", pod({ phase: "Succeeded" })],
      ["deletion", pod({ deleting: true })],
      ["uid", pod({ uid: "a-2" })],
      ["pool annotation", pod({ annotations: { [ANNOTATION.ippools]: '{"ipv4":["p"]}' } })],
      ["deleted", undefined],
    ];
    for (const [why, after] of changes) {
      s.pod("ns/a", pod(), after);
      expect(named(s.take()), why).to.deep.equal({ ...nothing, pools: ["p"], endpoints: ["ns/a"], pods: ["ns/a"] });
    }
    s.pod("ns/a", pod(), pod({ noise: "2" })); // containers, labels, other annotations, resourceVersion, pod IP
    expect(named(s.take())).to.deep.equal(nothing);
    s.pod("ns/a", pod(), pod());
    expect(named(s.take())).to.deep.equal(nothing);
    s.pool(p, pool("p", ["ns/b"]));
    s.take();
    s.pod("ns/a", pod(), pod({ node: "n2" }));
    expect(named(s.take())).to.deep.equal({ ...nothing, endpoints: ["ns/a"], pods: ["ns/a"] });
  });

  it("a StatefulSet's spec change names the pools recording its members and its members' endpoints; a status-only change names nothing", () => {
    const s = fresh();
    s.pool(undefined, pool("p", ["ns/web/0", "ns/web/1"]));
    s.pool(undefined, pool("q", ["ns/other"]));
    s.endpoint("ns/web-0", endpoint("ns", "web-0", "StatefulSet", "web"));
    s.endpoint("ns/web-1", endpoint("ns", "web-1", "StatefulSet", "web"));
    s.endpoint("ns/x", endpoint("ns", "x", "Deployment", "web"));
    s.endpoint("other/web-0", endpoint("other", "web-0", "StatefulSet", "web"));
    s.take();
    s.workload("StatefulSet", "ns/web", statefulSet(3), statefulSet(4));
    expect(named(s.take())).to.deep.equal({ ...nothing, workloads: ["StatefulSet/ns/web"], pools: ["p"], endpoints: ["ns/web-0", "ns/web-1"] });
    s.workload("StatefulSet", "ns/web", statefulSet(3), statefulSet(3, { readyReplicas: 3, image: "nginx:2" }));
    expect(named(s.take())).to.deep.equal(nothing);
    s.workload("Deployment", "ns/web", deployment(1), deployment(2)); // same name, other kind
    expect(named(s.take())).to.deep.equal({ ...nothing, workloads: ["Deployment/ns/web"] });
    s.endpoint("ns/web-1", undefined);
    s.take();
    s.workload("StatefulSet", "ns/web", statefulSet(3), undefined);
    expect(named(s.take())).to.deep.equal({ ...nothing, workloads: ["StatefulSet/ns/web"], pools: ["p"], endpoints: ["ns/web-0"] });
  });

  it("a Deployment's change names it and the auto pools its owner annotation names", () => {
    const s = fresh();
    const auto = pool("auto-d", [], { owner: "ns/Deployment/d" });
    s.pool(undefined, auto);
    s.pool(undefined, pool("auto-e", [], { owner: "ns/Deployment/e" }));
    s.pool(undefined, pool("manual", []));
    s.take();
    s.workload("Deployment", "ns/d", deployment(1), deployment(2));
    expect(named(s.take())).to.deep.equal({ ...nothing, workloads: ["Deployment/ns/d"], pools: ["auto-d"] });
    s.workload("Deployment", "ns/d", undefined, deployment(2));
    expect(named(s.take()).pools).to.deep.equal(["auto-d"]);
    s.pool(auto, pool("auto-d", [], { owner: "ns/Deployment/e" })); // re-owned
    s.take();
    s.workload("Deployment", "ns/d", deployment(2), deployment(3));
    expect(named(s.take())).to.deep.equal({ ...nothing, workloads: ["Deployment/ns/d"] });
    s.workload("Deployment", "ns/e", undefined, deployment(1));
    expect(named(s.take()).pools).to.deep.equal(["auto-d", "auto-e"]);
  });

  it("later() names a subject for the next sweep only; an unknown subject asks for a full one", () => {
    const s = fresh();
    for (const subject of ["pool:x", "workload:Deployment/ns/d", "endpoint:ns/e", "pod:ns/p", "ledgers"]) s.later(subject);
    expect(named(s.take())).to.deep.equal({ ...nothing, pools: ["x"], workloads: ["Deployment/ns/d"], endpoints: ["ns/e"], pods: ["ns/p"], ledgers: true });
    expect(named(s.take())).to.deep.equal(nothing);
    s.later("conflicts");
    expect(named(s.take())).to.deep.equal({ ...nothing, conflicts: true });
    s.later("node:n1");
    expect(named(s.take())).to.deep.equal(everything);
  });

  it("judged(): a full sweep judges every subject, a scoped one those it names", () => {
    const s = new SweepScope();
    const first = s.take();
    expect(["pool:x", "ledgers", "conflicts", "pod:ns/p"].every((subject) => judged(first, subject))).to.equal(true);
    s.later("pool:x");
    s.later("conflicts");
    const scope = s.take();
    expect(["pool:x", "conflicts"].map((subject) => judged(scope, subject))).to.deep.equal([true, true]);
    expect(["pool:y", "ledgers", "endpoint:ns/x", "pod:ns/x", "workload:Deployment/ns/d"].map((subject) => judged(scope, subject))).to.deep.equal([false, false, false, false, false]);
  });

  it("poolsHolding(pod) follows the pools' current holders", () => {
    const s = fresh();
    const p = pool("p", ["ns/a"]);
    const q = pool("q", ["ns/a", "ns/b", "ns/web/2"]);
    s.pool(undefined, p);
    s.pool(undefined, q);
    expect([...s.poolsHolding("ns/a")].sort()).to.deep.equal(["p", "q"]);
    expect([...s.poolsHolding("ns/web-2")]).to.deep.equal(["q"]);
    s.pool(p, pool("p", ["ns/b"]));
    expect([...s.poolsHolding("ns/a")]).to.deep.equal(["q"]);
    expect([...s.poolsHolding("ns/b")].sort()).to.deep.equal(["p", "q"]);
    s.pool(q, undefined);
    expect([...s.poolsHolding("ns/a")]).to.deep.equal([]);
    expect([...s.poolsHolding("ns/web-2")]).to.deep.equal([]);
  });

  it("a subnet change runs the ledgers, and judges conflicts only when its spec changed", () => {
    const s = fresh();
    const subnet = (ips: string[]): SpiderSubnet => ({ apiVersion: "spiderpool.spidernet.io/v2beta1", kind: "SpiderSubnet", metadata: { name: "s" }, spec: { subnet: "10.0.0.0/16", ips } });
    s.subnet(subnet(["10.0.0.1"]), { ...subnet(["10.0.0.1"]), status: { allocatedIPCount: 1 } });
    expect(named(s.take())).to.deep.equal({ ...nothing, ledgers: true });
    s.subnet(subnet(["10.0.0.1"]), subnet(["10.0.0.2"]));
    expect(named(s.take())).to.deep.equal({ ...nothing, ledgers: true, conflicts: true });
  });

  it("a pool whose status.allocations cannot be read (more addresses than holders) names no holders", () => {
    const s = fresh();
    const good = pool("p", ["ns/a", "ns/b"]);
    const miscounted: AllocationsStatus = { ...(good.status?.allocations as AllocationsStatus), ips: ["10.0.0.1-10.0.0.5"] };
    s.pool(undefined, { ...good, status: { allocations: miscounted } });
    expect(named(s.take())).to.deep.equal({ ...nothing, pools: ["p"], ledgers: true, conflicts: true });
    expect([...s.poolsHolding("ns/a")]).to.deep.equal([]);
  });
});

describe("controller/cluster-cache keepPod and keepWorkload (what the mirror keeps of pods and workloads)", () => {
  it("keepPod keeps identity, deletion, node, phase and only the pool annotations", () => {
    const raw = rawPod({ deleting: true, annotations: { [ANNOTATION.reserved]: "[]", [ANNOTATION.ippools]: "{}" } });
    raw.metadata = { ...raw.metadata, managedFields: [{ manager: "kubelet" }] };
    expect(keepPod(raw)).to.deep.equal({
      metadata: { name: "a", namespace: "ns", uid: "a-1", resourceVersion: "1", deletionTimestamp: new Date(Date.UTC(2026, 0, 1)), annotations: { [ANNOTATION.reserved]: "[]", [ANNOTATION.ippools]: "{}" } },
      spec: { nodeName: "n1" },
      status: { phase: "Running" },
    });
    expect(keepPod(rawPod()).metadata).to.not.have.property("deletionTimestamp");
  });

  it("keepWorkload keeps replicas, strategy, ordinals, template annotations, uid and deletion; drops the template's spec", () => {
    const strategy = { type: "RollingUpdate", rollingUpdate: { maxSurge: 1 } };
    const d: k8s.V1Deployment = {
      metadata: { namespace: "ns", name: "d", uid: "d-1", resourceVersion: "9", deletionTimestamp: new Date(0), labels: { a: "b" }, managedFields: [{ manager: "kubectl" }] },
      spec: { replicas: 2, strategy, selector: { matchLabels: { a: "b" } }, template: { metadata: { labels: { a: "b" }, annotations: { x: "y" } }, spec: { containers: [{ name: "c" }] } } },
      status: { readyReplicas: 2 },
    };
    expect(keepWorkload(d)).to.deep.equal({
      metadata: { namespace: "ns", name: "d", uid: "d-1", resourceVersion: "9", deletionTimestamp: new Date(0) },
      spec: { replicas: 2, strategy, template: { metadata: { annotations: { x: "y" } } } },
    });
    const set: k8s.V1StatefulSet = { metadata: { name: "web" }, spec: { replicas: 3, ordinals: { start: 5 }, serviceName: "web", selector: {}, template: { spec: { containers: [] } } } };
    expect(keepWorkload(set).spec).to.deep.equal({ replicas: 3, ordinals: { start: 5 }, template: { metadata: { annotations: undefined } } });
    expect(keepWorkload(set).metadata).to.not.have.property("deletionTimestamp");
  });
});
