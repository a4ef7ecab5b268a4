import { expect } from "chai";
import type * as k8s from "@kubernetes/client-node";
import { candidatePools } from "../../../src/agent/candidates.js";
import { claimFailure, decideClaim } from "../../../src/agent/claim.js";
import { decideRelease } from "../../../src/reservation/allocations.js";
import { type PodFacts, podFacts, replicaSetWorkload, workloadStep } from "../../../src/agent/pod.js";
import type { PoolSubject } from "../../../src/api/pool-affinity.js";
import { CniError, parseCniRequest } from "../../../src/agent/protocol.js";
import type { SpiderIPPool } from "../../../src/api/types.js";
import { parseAddress } from "../../../src/ip/address.js";
import { AllocationRecord } from "../../../src/ip/allocation-record.js";
import { type AddressUse, sandboxDigest } from "../../../src/ip/allocation-status.js";
import { RangeSet } from "../../../src/ip/range-set.js";

const none = { ipv4: [], ipv6: [] };
const inputs = (podAnnotations: Record<string, string>, ifName = "eth0") => ({ ifName, podAnnotations, namespaceAnnotations: {}, netconfDefaults: none, defaultPools: none });

describe("agent/candidatePools (Spiderpool's priority order)", () => {
  it("prefers the reserved pools, then ippools, then ippool", () => {
    const all = {
      "pinpool.io/reserved-ippools": '[{"interface":"eth0","ipv4":["auto4-x"]}]',
      "ipam.spidernet.io/ippools": '[{"interface":"eth0","ipv4":["a"],"ipv6":["a6"]}]',
      "ipam.spidernet.io/ippool": '{"ipv4":["b"]}',
    };
    expect(candidatePools(inputs(all))).to.deep.equal({ source: "annotation pinpool.io/reserved-ippools", ipv4: ["auto4-x"], ipv6: [] });
    const rest: Record<string, string> = { ...all };
    delete rest["pinpool.io/reserved-ippools"];
    expect(candidatePools(inputs(rest))).to.deep.include({ ipv4: ["a"], ipv6: ["a6"] });
    expect(candidatePools(inputs({ "ipam.spidernet.io/ippool": '{"ipv4":["b","c"]}' })).ipv4).to.deep.equal(["b", "c"]);
  });

  it("gives entries without interfaces to the Nth NIC, and ippool only to eth0", () => {
    const a = { "ipam.spidernet.io/ippools": '[{"ipv4":["first"]},{"ipv4":["second"]}]' };
    expect(candidatePools(inputs(a, "net1")).ipv4).to.deep.equal(["second"]);
    expect(candidatePools(inputs({ "ipam.spidernet.io/ippool": '{"ipv4":["b"]}' }, "net1"))).to.deep.equal({ source: "pools with spec.default: true", ipv4: [], ipv6: [] });
  });

  it("falls back to namespace defaults, network-config defaults, default pools", () => {
    expect(candidatePools({ ...inputs({}), namespaceAnnotations: { "ipam.spidernet.io/default-ipv4-ippool": '["ns-pool"]' } }).ipv4).to.deep.equal(["ns-pool"]);
    expect(candidatePools({ ...inputs({}), netconfDefaults: { ipv4: ["conf"], ipv6: [] } }).ipv4).to.deep.equal(["conf"]);
    expect(candidatePools({ ...inputs({}), defaultPools: { ipv4: ["d"], ipv6: ["d6"] } })).to.deep.include({ ipv4: ["d"], ipv6: ["d6"] });
  });

  it("refuses a malformed annotation, naming it", () => {
    expect(() => candidatePools(inputs({ "ipam.spidernet.io/ippool": "{ipv4:" }))).to.throw('annotation ipam.spidernet.io/ippool: "{ipv4:" is not valid JSON');
    expect(() => candidatePools(inputs({ "ipam.spidernet.io/ippools": '[{"interface":"eth0","ipv4":"a"}]' }))).to.throw("[eth0].ipv4 must be a list of SpiderIPPool names");
  });
});

const stsPod: k8s.V1Pod = {
  metadata: { name: "web-2", namespace: "default", uid: "u2", labels: { app: "web" }, ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "web", uid: "s", controller: true }] },
};
const rsPod: k8s.V1Pod = {
  metadata: {
    name: "nginx-644659db67-6lsmm",
    namespace: "default",
    uid: "u1",
    labels: { app: "nginx", "pod-template-hash": "644659db67" },
    ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "nginx-644659db67", uid: "r", controller: true }],
  },
};

describe("agent/podFacts", () => {
  it("keys a StatefulSet pod by namespace/set/ordinal and a Deployment pod by its name, keeping its labels as written", () => {
    expect(podFacts(stsPod, "n1")).to.deep.include({ holder: "default/web/2", statefulSet: { name: "web", ordinal: 2 } });
    const facts = podFacts(rsPod, "n1");
    expect(facts.holder).to.equal("default/nginx-644659db67-6lsmm");
    expect(facts.labels).to.deep.equal({ app: "nginx", "pod-template-hash": "644659db67" });
    expect(facts.controller).to.deep.include({ kind: "ReplicaSet", name: "nginx-644659db67", uid: "r" });
  });

  it("keys a pod of a StatefulSet whose name is no strict ordinal of it as a plain pod, never as live web-0 or web-1", () => {
    const owned = (name: string, set = "web"): k8s.V1Pod => ({ metadata: { ...stsPod.metadata, name, ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: set, uid: "s", controller: true }] } });
    for (const name of ["web-00", "web-1e0", "web- 1", "web-0x1"]) {
      const facts = podFacts(owned(name), "n1");
      expect(facts.holder, name).to.equal(`default/${name}`);
      expect(facts, name).not.to.have.property("statefulSet");
      expect(workloadStep(facts.controller), name).to.deep.equal({ workload: { apiVersion: "apps/v1", kind: "StatefulSet", name: "web", uid: "s" } }); // still its set's pod for affinity
    }
    expect(podFacts(owned("web-0"), "n1")).to.deep.include({ holder: "default/web/0", statefulSet: { name: "web", ordinal: 0 } });
    expect(podFacts(owned("web-10"), "n1")).to.deep.include({ holder: "default/web/10", statefulSet: { name: "web", ordinal: 10 } });
    expect(podFacts(owned("a-b-1-2", "a-b-1"), "n1")).to.deep.include({ holder: "default/a-b-1/2", statefulSet: { name: "a-b-1", ordinal: 2 } });
  });
});

describe("agent/workloadStep and replicaSetWorkload (the workload the API server records, never the pod's labels)", () => {
  const ref = (kind: string, name: string, apiVersion = "apps/v1") => ({ apiVersion, kind, name, uid: `${kind}-uid`, controller: true });
  const replicaSet = (uid: string, owners: k8s.V1OwnerReference[] = []): k8s.V1ReplicaSet => ({ metadata: { name: "nginx-644659db67", namespace: "default", uid, ownerReferences: owners } });

  it("a bare pod belongs to no workload, whatever app-* or pod-template-hash labels it wrote", () => {
    const forged: k8s.V1Pod = { metadata: { name: "x", namespace: "dev", labels: { "pod-template-hash": "abc", "ipam.spidernet.io/app-kind": "Deployment", "ipam.spidernet.io/app-name": "payments" } } };
    expect(workloadStep(podFacts(forged, "n1").controller)).to.deep.equal({ workload: null });
  });

  it("a StatefulSet's (or DaemonSet's, Job's) pod: its controller reference, no read", () => {
    expect(workloadStep(ref("StatefulSet", "web"))).to.deep.equal({ workload: { apiVersion: "apps/v1", kind: "StatefulSet", name: "web", uid: "StatefulSet-uid" } });
    expect(workloadStep(ref("Job", "j", "batch/v1"))).to.deep.equal({ workload: { apiVersion: "batch/v1", kind: "Job", name: "j", uid: "Job-uid" } });
  });

  it("a pod that names a Deployment as its own controller wrote that itself: no workload", () => {
    expect(workloadStep(ref("Deployment", "payments"))).to.deep.equal({ workload: null });
  });

  it("a ReplicaSet's pod: read the ReplicaSet; its Deployment is its controller, else the ReplicaSet itself", () => {
    expect(workloadStep(ref("ReplicaSet", "nginx-644659db67"))).to.deep.equal({ replicaSet: { name: "nginx-644659db67", uid: "ReplicaSet-uid" } });
    const at = { name: "nginx-644659db67", uid: "rs-1" };
    expect(replicaSetWorkload(replicaSet("rs-1", [ref("Deployment", "nginx")]), at)).to.deep.equal({ apiVersion: "apps/v1", kind: "Deployment", name: "nginx", uid: "Deployment-uid" });
    expect(replicaSetWorkload(replicaSet("rs-1"), at)).to.deep.equal({ apiVersion: "apps/v1", kind: "ReplicaSet", name: "nginx-644659db67", uid: "rs-1" });
  });

  it("a ReplicaSet that is gone (404), or a namesake with another UID, leaves the pod without a workload", () => {
    const at = { name: "nginx-644659db67", uid: "rs-1" };
    expect(replicaSetWorkload(undefined, at)).to.equal(null);
    expect(replicaSetWorkload(replicaSet("rs-2", [ref("Deployment", "nginx")]), at)).to.equal(null);
  });
});

const pool = (extra: Partial<SpiderIPPool["spec"]> = {}, allocations?: object): SpiderIPPool => ({
  apiVersion: "spiderpool.spidernet.io/v2beta1",
  kind: "SpiderIPPool",
  metadata: { name: "p", resourceVersion: "1" },
  spec: { subnet: "10.0.0.0/24", ips: ["10.0.0.10-10.0.0.12"], ...extra },
  ...(allocations ? { status: { allocations: allocations as never } } : {}),
});
const ip = (t: string): bigint => parseAddress(t).value;
const empty = RangeSet.empty(4);

/** The claimant of `f` with every fact a pool may ask for left to look up, unless given. */
const claimant = (f: PodFacts, o: Partial<PoolSubject> = {}, use: AddressUse = { interface: "eth0", sandbox: sandboxDigest("c1") }) => ({
  holder: f.holder,
  use,
  subject: { namespace: f.namespace, pod: f.name, node: f.node, interface: use.interface, podLabels: f.labels, ...o },
});

describe("agent/decideClaim", () => {
  const pod = claimant(podFacts(rsPod, "n1"));

  it("claims the lowest free address, skipping reserved ones, and counts it", () => {
    const d = decideClaim(pool({}, { prefixes: ["default/other-"], ips: ["10.0.0.10"], holders: ["0:x"] }), "p", 4, pod, RangeSet.of(4, ip("10.0.0.11")));
    expect(d.kind).to.equal("claimed");
    if (d.kind !== "claimed") return;
    expect(d.address).to.equal(ip("10.0.0.12"));
    expect(d.write.status).to.deep.include({ allocatedIPCount: 2, totalIPCount: 3 });
  });

  it("gives a holder its address back (retried ADD, recreated StatefulSet pod) without a write", () => {
    const sts = claimant(podFacts(stsPod, "other-node"));
    const d = decideClaim(pool({}, { prefixes: ["default/web/"], ips: ["10.0.0.11"], holders: ["0:2"] }), "p", 4, sts, empty);
    expect(d).to.deep.include({ kind: "held", address: ip("10.0.0.11") });
    expect(d).to.not.have.property("write");
  });

  describe("one address per interface, stamped with its sandbox", () => {
    const c1 = { interface: "eth0", sandbox: sandboxDigest("c1") };
    const uses = (p: SpiderIPPool) => {
      const r = AllocationRecord.decode(4, p.status?.allocations);
      return [...r.allocated().addresses()].map((a) => [r.holderOf(a), r.useOf(a)]);
    };
    const claimed = pool({}, { prefixes: ["default/nginx-644659db67-"], ips: ["10.0.0.10"], holders: ["0:6lsmm"], sandboxes: [c1.sandbox] });

    it("answers a retried ADD of the same sandbox with its address and the pool as read", () => {
      expect(decideClaim(claimed, "p", 4, pod, empty)).to.deep.equal({ kind: "held", address: ip("10.0.0.10"), pool: claimed });
    });

    it("gives a new sandbox of the pod the same address, re-stamped with the new sandbox", () => {
      const c2 = { interface: "eth0", sandbox: sandboxDigest("c2") };
      const d = decideClaim(claimed, "p", 4, claimant(podFacts(rsPod, "n1"), {}, c2), empty);
      expect(d).to.deep.include({ kind: "held", address: ip("10.0.0.10") });
      if (d.kind === "held") expect(uses(d.pool)).to.deep.equal([["default/nginx-644659db67-6lsmm", c2]]);
    });

    it("gives net1 of the same pod in the same pool another address, leaving eth0's", () => {
      const net1 = { interface: "net1", sandbox: c1.sandbox };
      const d = decideClaim(claimed, "p", 4, claimant(podFacts(rsPod, "n1"), {}, net1), empty);
      expect(d).to.deep.include({ kind: "claimed", address: ip("10.0.0.11") });
      if (d.kind === "claimed") {
        expect(uses(d.write)).to.deep.equal([
          ["default/nginx-644659db67-6lsmm", c1],
          ["default/nginx-644659db67-6lsmm", net1],
        ]);
      }
    });

    it("hands an address that records no sandbox (an older agent's) to the first interface that claims, stamped; the next gets another", () => {
      const legacy = pool({}, { prefixes: ["default/nginx-644659db67-"], ips: ["10.0.0.10"], holders: ["0:6lsmm"] });
      const net1 = { interface: "net1", sandbox: c1.sandbox };
      const first = decideClaim(legacy, "p", 4, claimant(podFacts(rsPod, "n1"), {}, net1), empty);
      expect(first).to.deep.include({ kind: "held", address: ip("10.0.0.10") });
      if (first.kind !== "held") return;
      expect(uses(first.pool)).to.deep.equal([["default/nginx-644659db67-6lsmm", net1]]);
      expect(decideClaim(first.pool, "p", 4, pod, empty)).to.deep.include({ kind: "claimed", address: ip("10.0.0.11") });
    });
  });

  it("reports exhaustion with the pool's size and holders", () => {
    const full = pool({}, { prefixes: ["default/a-"], ips: ["10.0.0.10-10.0.0.12"], holders: ["0:x", "0:y", "0:z"] });
    expect(decideClaim(full, "p", 4, pod, empty)).to.deep.equal({ kind: "exhausted", size: 3n, holders: 3, pool: full });
  });

  it("skips pools it may not use, saying why", () => {
    expect(decideClaim(undefined, "p", 4, pod, empty)).to.deep.equal({ kind: "skip", reason: 'SpiderIPPool "p" does not exist' });
    expect(decideClaim(pool({ disable: true }), "p", 4, pod, empty)).to.deep.include({ reason: 'SpiderIPPool "p" is disabled (spec.disable)' });
    expect(decideClaim(pool(), "p", 6, pod, empty)).to.deep.include({ reason: 'SpiderIPPool "p" is IPv4, not IPv6' });
    expect(decideClaim(pool({ nodeName: ["n2"] }), "p", 4, pod, empty)).to.deep.include({ reason: 'SpiderIPPool "p" does not serve node "n1": spec.nodeName is ["n2"]' });
    expect(decideClaim(pool({ podAffinity: { matchLabels: { app: "other" } } }), "p", 4, pod, empty)).to.deep.include({
      reason: 'SpiderIPPool "p" does not serve pod default/nginx-644659db67-6lsmm: spec.podAffinity requires app=other, and the pod has app=nginx',
    });
  });

  it("asks for what the pool needs to know about the pod before deciding, then decides", () => {
    const rack = pool({ nodeAffinity: { matchLabels: { rack: "a" } } });
    expect(decideClaim(rack, "p", 4, pod, empty)).to.deep.equal({ kind: "needs", facts: ["nodeLabels"] });
    expect(decideClaim(rack, "p", 4, claimant(podFacts(rsPod, "n1"), { nodeLabels: { rack: "b" } }), empty)).to.deep.include({
      kind: "skip",
      reason: 'SpiderIPPool "p" does not serve node "n1": spec.nodeAffinity requires rack=a, and the node has rack=b',
    });
    expect(decideClaim(rack, "p", 4, claimant(podFacts(rsPod, "n1"), { nodeLabels: { rack: "a" } }), empty).kind).to.equal("claimed");
  });

  it("releases every address of a holder, and nothing for a stranger", () => {
    const held = pool({}, { prefixes: ["default/nginx-644659db67-"], ips: ["10.0.0.10"], holders: ["0:6lsmm"] });
    expect(decideRelease(held, "default/nginx-644659db67-6lsmm")?.status).to.deep.include({ allocatedIPCount: 0 });
    expect(decideRelease(held, "default/someone-else")).to.equal(undefined);
  });
});

describe("agent/claimFailure", () => {
  it("reports an address conflict first, then exhaustion, else every pool's refusal", () => {
    const shared = { addresses: RangeSet.of(4, ip("10.0.0.10"), ip("10.0.0.11")), with: ["b"] };
    const exhausted = { name: "e", size: 3n, holders: 3 };
    const conflict = claimFailure({ refusals: ["x"], exhausted, conflict: { name: "a", shared } }, 4, "t/p", "s");
    expect([conflict.code, conflict.msg]).to.deep.equal([103, 'SpiderIPPool "a" shares 10.0.0.10-10.0.0.11 with SpiderIPPool "b"']);
    const full = claimFailure({ refusals: ["x"], exhausted }, 4, "t/p", "s");
    expect([full.code, full.msg, full.details]).to.deep.equal([102, 'SpiderIPPool "e" is exhausted', "all 3 of its addresses are held (by 3 pods or StatefulSet ordinals); pod t/p gets none. Grow the pool (ippool-ip-number), or free addresses"]);
    const refused = claimFailure({ refusals: ["one", "two"] }, 6, "t/p", "annotation ipam.spidernet.io/ippool");
    expect([refused.code, refused.msg, refused.details]).to.deep.equal([101, "no usable IPv6 pool for pod t/p", "from annotation ipam.spidernet.io/ippool: one; two"]);
    expect(claimFailure({ refusals: [] }, 4, "t/p", "s").details).to.equal("from s: none named");
  });
});

describe("agent/parseCniRequest", () => {
  it("names the bad field", () => {
    expect(() => parseCniRequest("ADD", { command: "ADD", config: {}, containerID: "c", ifName: "eth0", args: {} })).to.throw(
      CniError,
      'bad request to the pinpool agent: args: got {}, expected K8S_POD_NAMESPACE and K8S_POD_NAME',
    );
    expect(() => parseCniRequest("ADD", "x")).to.throw("the body is not a JSON object");
    expect(parseCniRequest("STATUS", { command: "STATUS", config: {} }).command).to.equal("STATUS");
  });
});
