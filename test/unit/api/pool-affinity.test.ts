import { expect } from "chai";
import { LABEL } from "../../../src/api/labels.js";
import { autoPoolName, type WorkloadRef } from "../../../src/api/names.js";
import { type PoolSubject, type Workload, factsNeeded, missingFacts, poolServes, workloadLabels } from "../../../src/api/pool-affinity.js";
import type { SpiderIPPool, SpiderIPPoolSpec, SpiderSubnet } from "../../../src/api/types.js";
import { parseAddressSpec } from "../../../src/api/address-spec.js";
import { RangeSet } from "../../../src/ip/range-set.js";
import { autoPoolObject } from "../../../src/reservation/auto-pool.js";

const manual = (name: string, extra: Partial<SpiderIPPoolSpec> = {}): SpiderIPPool => ({
  apiVersion: "spiderpool.spidernet.io/v2beta1",
  kind: "SpiderIPPool",
  metadata: { name },
  spec: { subnet: "10.0.0.0/24", ips: ["10.0.0.10-10.0.0.20"], ...extra },
});

/** The auto pool pinpool's webhook reserves for `workload` (autoPoolObject: owner annotation, owner labels, podAffinity). */
function autoPool(workload: WorkloadRef): SpiderIPPool {
  const subnet: SpiderSubnet = { apiVersion: "spiderpool.spidernet.io/v2beta1", kind: "SpiderSubnet", metadata: { name: "s" }, spec: { subnet: "10.1.0.0/16" } };
  const plan = { name: autoPoolName(workload, "eth0", 4, "s"), interface: "eth0", family: 4 as const, subnet: "s", size: 3 };
  return autoPoolObject(workload, plan, true, { object: subnet, spec: parseAddressSpec(subnet.spec) }, RangeSet.empty(4));
}

const deployment = (name: string, uid = "d-uid"): Workload => ({ apiVersion: "apps/v1", kind: "Deployment", name, uid });

/** A pod with every fact looked up (the agent looks up only what missingFacts names). */
const subject = (o: Partial<PoolSubject> = {}): PoolSubject => ({
  namespace: "prod",
  pod: "payments-7d9f-abcde",
  node: "node1",
  interface: "eth0",
  podLabels: { app: "payments" },
  namespaceLabels: { team: "payments" },
  nodeLabels: { rack: "a" },
  owner: deployment("payments"),
  ...o,
});

describe("api/poolServes (Spiderpool's pool filters)", () => {
  it("serves everyone from a pool without restrictions, needing no fact, and treats empty lists and selectors as no restriction", () => {
    expect(poolServes(manual("open"), subject())).to.equal(undefined);
    expect(factsNeeded(manual("open"))).to.deep.equal([]);
    const empty = manual("empty", { nodeName: [], namespaceName: [], nodeAffinity: {}, namespaceAffinity: { matchLabels: {} }, podAffinity: { matchExpressions: [] }, multusName: [] });
    expect(factsNeeded(empty)).to.deep.equal([]);
    expect(poolServes(empty, subject({ owner: undefined, nodeLabels: undefined, namespaceLabels: undefined }))).to.equal(undefined);
  });

  it("spec.nodeName: only the listed nodes, and it is read instead of spec.nodeAffinity", () => {
    const rackA = manual("rack-a", { nodeName: ["node2"] });
    expect(poolServes(rackA, subject())).to.equal('SpiderIPPool "rack-a" does not serve node "node1": spec.nodeName is ["node2"]');
    expect(poolServes(rackA, subject({ node: "node2" }))).to.equal(undefined);
    const both = manual("both", { nodeName: ["node1"], nodeAffinity: { matchLabels: { rack: "b" } } });
    expect(factsNeeded(both)).to.deep.equal([]);
    expect(poolServes(both, subject({ nodeLabels: undefined }))).to.equal(undefined);
  });

  it("spec.nodeAffinity: the node's labels, saying what the node has", () => {
    const pool = manual("rack-b", { nodeAffinity: { matchExpressions: [{ key: "rack", operator: "In", values: ["b", "c"] }] } });
    expect(factsNeeded(pool)).to.deep.equal(["nodeLabels"]);
    expect(poolServes(pool, subject())).to.equal('SpiderIPPool "rack-b" does not serve node "node1": spec.nodeAffinity requires rack in (b,c), and the node has rack=a');
    expect(poolServes(pool, subject({ nodeLabels: {} }))).to.equal('SpiderIPPool "rack-b" does not serve node "node1": spec.nodeAffinity requires rack in (b,c), and the node has no label rack');
    expect(poolServes(pool, subject({ nodeLabels: { rack: "c" } }))).to.equal(undefined);
  });

  it("spec.namespaceName: only the listed namespaces, read instead of spec.namespaceAffinity", () => {
    const pool = manual("team", { namespaceName: ["prod", "staging"], namespaceAffinity: { matchLabels: { team: "other" } } });
    expect(factsNeeded(pool)).to.deep.equal([]);
    expect(poolServes(pool, subject())).to.equal(undefined);
    expect(poolServes(pool, subject({ namespace: "dev" }))).to.equal('SpiderIPPool "team" does not serve namespace "dev": spec.namespaceName is ["prod", "staging"]');
  });

  it("spec.namespaceAffinity: the namespace's labels, each operator", () => {
    const pool = (operator: "In" | "NotIn" | "Exists" | "DoesNotExist", values?: string[]) =>
      manual("ns", { namespaceAffinity: { matchExpressions: [{ key: "team", operator, ...(values ? { values } : {}) }] } });
    expect(factsNeeded(pool("Exists"))).to.deep.equal(["namespaceLabels"]);
    expect(poolServes(pool("In", ["payments"]), subject())).to.equal(undefined);
    expect(poolServes(pool("NotIn", ["payments"]), subject())).to.equal('SpiderIPPool "ns" does not serve namespace "prod": spec.namespaceAffinity requires team notin (payments), and the namespace has team=payments');
    expect(poolServes(pool("Exists"), subject({ namespaceLabels: {} }))).to.equal('SpiderIPPool "ns" does not serve namespace "prod": spec.namespaceAffinity requires team, and the namespace has no label team');
    expect(poolServes(pool("DoesNotExist"), subject())).to.equal('SpiderIPPool "ns" does not serve namespace "prod": spec.namespaceAffinity requires !team, and the namespace has team=payments');
    expect(poolServes(pool("In", []), subject())).to.equal('SpiderIPPool "ns" does not serve namespace "prod": spec.namespaceAffinity.matchExpressions[0] (key "team"): operator In needs at least one value, so it selects nothing');
  });

  it("spec.podAffinity of a manual pool: the pod's own labels, needing no read unless it names app-* keys", () => {
    const pool = manual("web", { podAffinity: { matchLabels: { app: "web" } } });
    expect(factsNeeded(pool)).to.deep.equal([]);
    expect(poolServes(pool, subject({ owner: undefined }))).to.equal('SpiderIPPool "web" does not serve pod prod/payments-7d9f-abcde: spec.podAffinity requires app=web, and the pod has app=payments');
    expect(poolServes(pool, subject({ owner: undefined, podLabels: { app: "web" } }))).to.equal(undefined);
  });

  it("spec.podAffinity on app-* keys sees the workload the API server records, never app-* labels the pod wrote", () => {
    const pool = manual("payments-only", { podAffinity: { matchLabels: { "ipam.spidernet.io/app-kind": "Deployment", "ipam.spidernet.io/app-name": "payments" } } });
    expect(factsNeeded(pool)).to.deep.equal(["owner"]);
    expect(poolServes(pool, subject())).to.equal(undefined);
    const forged = { "ipam.spidernet.io/app-kind": "Deployment", "ipam.spidernet.io/app-name": "payments" };
    expect(poolServes(pool, subject({ owner: null, podLabels: forged }))).to.equal(
      'SpiderIPPool "payments-only" does not serve pod prod/payments-7d9f-abcde: spec.podAffinity requires ipam.spidernet.io/app-kind=Deployment, and the pod has no label ipam.spidernet.io/app-kind',
    );
    expect(poolServes(pool, subject({ owner: deployment("web"), podLabels: forged }))).to.include("requires ipam.spidernet.io/app-name=payments, and the pod has ipam.spidernet.io/app-name=web");
  });

  describe("an auto pool serves only its owner's pods, in its owner's namespace", () => {
    const payments = autoPool({ namespace: "prod", kind: "Deployment", name: "payments" });
    const name = payments.metadata.name as string;

    it("needs the pod's workload, and serves a ReplicaSet's pod whose Deployment is the owner", () => {
      expect(factsNeeded(payments)).to.deep.equal(["owner"]);
      expect(missingFacts(payments, subject({ owner: undefined }))).to.deep.equal(["owner"]);
      expect(missingFacts(payments, subject({ owner: null }))).to.deep.equal([]);
      expect(poolServes(payments, subject())).to.equal(undefined);
    });

    it("refuses a pod in dev whose Deployment has the same name (dev vs prod)", () => {
      expect(poolServes(payments, subject({ namespace: "dev" }))).to.equal(
        `SpiderIPPool "${name}" does not serve pod dev/payments-7d9f-abcde: it is the auto pool of Deployment prod/payments, and the pod belongs to Deployment dev/payments`,
      );
    });

    it("refuses a bare pod that wrote the auto pool's app-* labels, in dev and in prod alike", () => {
      const forged = payments.spec.podAffinity?.matchLabels ?? {};
      expect(Object.keys(forged)).to.have.length(5);
      for (const namespace of ["dev", "prod"]) {
        expect(poolServes(payments, subject({ namespace, owner: null, podLabels: forged }))).to.equal(
          `SpiderIPPool "${name}" does not serve pod ${namespace}/payments-7d9f-abcde: it is the auto pool of Deployment prod/payments, and the pod belongs to no workload (it has no controller, or its ReplicaSet is gone)`,
        );
      }
    });

    it("refuses another kind or API group of the same name", () => {
      expect(poolServes(payments, subject({ owner: { apiVersion: "apps/v1", kind: "StatefulSet", name: "payments", uid: "s" } }))).to.include("the pod belongs to StatefulSet prod/payments");
      expect(poolServes(payments, subject({ owner: { apiVersion: "example.com/v1", kind: "Deployment", name: "payments", uid: "x" } }))).to.include("it is the auto pool of Deployment prod/payments");
      expect(poolServes(payments, subject({ owner: { apiVersion: "apps/v1", kind: "ReplicaSet", name: "payments", uid: "r" } }))).to.include("the pod belongs to ReplicaSet prod/payments");
    });

    it("serves a StatefulSet's pods from the StatefulSet's pool", () => {
      const web = autoPool({ namespace: "prod", kind: "StatefulSet", name: "web" });
      expect(poolServes(web, subject({ pod: "web-0", owner: { apiVersion: "apps/v1", kind: "StatefulSet", name: "web", uid: "s" } }))).to.equal(undefined);
      expect(poolServes(web, subject({ pod: "web-0" }))).to.include("it is the auto pool of StatefulSet prod/web, and the pod belongs to Deployment prod/payments");
    });

    it("checks the owner's UID where the pool records it (Spiderpool's owner-application-uid label)", () => {
      const spiderpool = manual("auto4-payments-eth0-a5bd3", {});
      spiderpool.metadata.labels = { [LABEL.ownerGV]: "apps_v1", [LABEL.ownerKind]: "Deployment", [LABEL.ownerNamespace]: "prod", [LABEL.ownerName]: "payments", [LABEL.ownerUID]: "d-uid" };
      expect(poolServes(spiderpool, subject())).to.equal(undefined);
      expect(poolServes(spiderpool, subject({ owner: deployment("payments", "other-uid") }))).to.equal(
        'SpiderIPPool "auto4-payments-eth0-a5bd3" does not serve pod prod/payments-7d9f-abcde: it is the auto pool of Deployment prod/payments (UID d-uid), and the pod belongs to Deployment prod/payments (UID other-uid)',
      );
    });

    it("serves nobody from an auto pool whose owner pinpool cannot read", () => {
      const daemonSet = manual("auto4-agent-eth0-1234", {});
      daemonSet.metadata.labels = { [LABEL.ownerGV]: "apps_v1", [LABEL.ownerKind]: "DaemonSet", [LABEL.ownerNamespace]: "prod", [LABEL.ownerName]: "agent" };
      expect(factsNeeded(daemonSet)).to.deep.equal(["owner"]);
      expect(poolServes(daemonSet, subject({ owner: { apiVersion: "apps/v1", kind: "DaemonSet", name: "agent", uid: "ds" } }))).to.include("of no Deployment or StatefulSet pinpool can read, so it serves no pod");
    });
  });

  it("refuses a pool kept for Multus networks: pinpool cannot tell which one an interface comes from", () => {
    expect(poolServes(manual("storage", { multusName: ["kube-system/macvlan-storage"] }), subject({ interface: "net1" }))).to.equal(
      'SpiderIPPool "storage" does not serve interface "net1": spec.multusName is ["kube-system/macvlan-storage"], and pinpool cannot tell which NetworkAttachmentDefinition an interface comes from; leave spec.multusName out to use this pool',
    );
  });

  it("checks node, then namespace, then pod, and throws when asked without a fact it needs", () => {
    const all = manual("all", { nodeName: ["node2"], namespaceName: ["dev"], podAffinity: { matchLabels: { app: "x" } } });
    expect(poolServes(all, subject())).to.include('does not serve node "node1"');
    expect(poolServes({ ...all, spec: { ...all.spec, nodeName: [] } }, subject())).to.include('does not serve namespace "prod"');
    const rack = manual("rack", { nodeAffinity: { matchLabels: { rack: "a" } } });
    expect(missingFacts(rack, subject({ nodeLabels: undefined }))).to.deep.equal(["nodeLabels"]);
    expect(() => poolServes(rack, subject({ nodeLabels: undefined }))).to.throw("nodeLabels was not looked up");
  });

  it("writes Spiderpool's virtual labels for a workload: group and version from its apiVersion", () => {
    expect(workloadLabels("prod", deployment("payments"))).to.deep.equal({
      "ipam.spidernet.io/app-api-group": "apps",
      "ipam.spidernet.io/app-api-version": "v1",
      "ipam.spidernet.io/app-kind": "Deployment",
      "ipam.spidernet.io/app-namespace": "prod",
      "ipam.spidernet.io/app-name": "payments",
    });
    expect(workloadLabels("prod", { apiVersion: "v1", kind: "ReplicationController", name: "rc", uid: "u" })).to.deep.include({ "ipam.spidernet.io/app-api-group": "", "ipam.spidernet.io/app-api-version": "v1" });
    expect(workloadLabels("prod", null)).to.deep.equal({});
  });
});
