import type * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { type HolderView, holderGone, ordinalKept, parseHolder, podLive } from "../../../src/api/holders.js";

function view(o: { pods?: Array<[string, string | undefined]>; nodes?: string[]; sets?: Array<[string, number, boolean?]>; terminating?: string[] }): HolderView {
  return {
    pods: new Map((o.pods ?? []).map(([key, node]) => [key, { metadata: { name: key.split("/")[1] }, spec: { nodeName: node, containers: [] } }])),
    nodes: new Set(o.nodes ?? []),
    statefulSets: new Map((o.sets ?? []).map(([key, replicas, deleting]) => [key, { metadata: deleting ? { deletionTimestamp: new Date() } : {}, spec: { replicas } } as k8s.V1StatefulSet])),
    terminatingNamespaces: new Set(o.terminating ?? []),
  };
}

describe("controller/snapshot holderGone", () => {
  it("parses the two holder shapes the agent writes, and nothing else", () => {
    expect(parseHolder("default/nginx-644659db67-6lsmm")).to.deep.equal({ namespace: "default", pod: "nginx-644659db67-6lsmm" });
    expect(parseHolder("default/web/2")).to.deep.equal({ namespace: "default", statefulSet: "web", ordinal: 2, pod: "web-2" });
    expect(parseHolder("default/web/x")).to.equal(undefined);
    expect(parseHolder("nonsense")).to.equal(undefined);
  });

  it("keeps a pod's address while the pod exists on a live node (or is not scheduled)", () => {
    expect(holderGone("default/p", view({ pods: [["default/p", "n1"]], nodes: ["n1"] }))).to.equal(undefined);
    expect(holderGone("default/p", view({ pods: [["default/p", undefined]] }))).to.equal(undefined);
  });

  it("releases a deleted pod's address, and one whose node is gone", () => {
    expect(holderGone("default/p", view({}))).to.equal("its pod default/p no longer exists");
    expect(holderGone("default/p", view({ pods: [["default/p", "lost"]], nodes: ["n1"] }))).to.equal("its pod default/p is on node lost, which no longer exists");
  });

  it("keeps a StatefulSet ordinal within replicas with no pod at all, even after node loss", () => {
    expect(holderGone("default/web/1", view({ sets: [["default/web", 3]] }))).to.equal(undefined);
    expect(holderGone("default/web/1", view({ sets: [["default/web", 3]], pods: [["default/web-1", "lost"]] }))).to.equal(undefined);
  });

  it("releases an ordinal beyond replicas, or of a set or namespace being deleted, once its pod is gone", () => {
    expect(holderGone("default/web/3", view({ sets: [["default/web", 3]] }))).to.equal("its pod default/web-3 no longer exists");
    expect(holderGone("default/web/3", view({ sets: [["default/web", 3]], pods: [["default/web-3", "n1"]], nodes: ["n1"] }))).to.equal(undefined);
    expect(holderGone("default/web/0", view({ sets: [["default/web", 3, true]] }))).to.be.a("string");
    expect(holderGone("default/web/0", view({ sets: [["default/web", 3]], terminating: ["default"] }))).to.be.a("string");
    expect(holderGone("default/web/0", view({}))).to.be.a("string");
  });
});

describe("podLive", () => {
  it("a finished pod (Succeeded, Failed: an evicted pod lingers) holds nothing", () => {
    const pod = (phase?: string): k8s.V1Pod => ({ metadata: { name: "p" }, spec: { nodeName: "n1", containers: [] }, status: { phase } });
    expect(["Running", "Pending", undefined, "Succeeded", "Failed"].map((p) => podLive(pod(p), new Set(["n1"])))).to.deep.equal([true, true, true, false, false]);
    expect(holderGone("default/p", { pods: new Map([["default/p", pod("Failed")]]), nodes: new Set(["n1"]), statefulSets: new Map(), terminatingNamespaces: new Set() })).to.equal("its pod default/p has finished (Failed)");
  });
});

describe("ordinalKept (the rule the agent's DEL and the controller's GC share)", () => {
  const set = (replicas: number, deleting = false): k8s.V1StatefulSet => ({ metadata: { name: "web", ...(deleting ? { deletionTimestamp: new Date() } : {}) }, spec: { replicas } as k8s.V1StatefulSetSpec });
  it("keeps ordinals below replicas of a live set in a live namespace, and no other", () => {
    expect(ordinalKept(set(3), false, 2)).to.equal(true);
    expect(ordinalKept(set(3), false, 3)).to.equal(false);
    expect(ordinalKept(set(3, true), false, 0)).to.equal(false);
    expect(ordinalKept(set(3), true, 0)).to.equal(false);
    expect(ordinalKept(undefined, false, 0)).to.equal(false);
  });

  it("counts from spec.ordinals.start", () => {
    const from5 = { ...set(2), spec: { replicas: 2, ordinals: { start: 5 } } as k8s.V1StatefulSetSpec };
    expect([4, 5, 6, 7].map((o) => ordinalKept(from5, false, o))).to.deep.equal([false, true, true, false]);
  });
});
