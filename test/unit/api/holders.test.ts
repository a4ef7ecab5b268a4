import type * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { type HolderView, holderGone, holderKey, ordinalKept, parseHolder, podLive, statefulSetMember } from "../../../src/api/holders.js";

function view(o: { pods?: Array<[string, string | undefined]>; nodes?: string[]; sets?: Array<[string, number, boolean?]>; terminating?: string[] }): HolderView {
  return {
    pods: new Map((o.pods ?? []).map(([key, node]) => [key, { metadata: { name: key.split("/")[1] }, spec: { nodeName: node, containers: [] } }])),
    nodes: new Set(o.nodes ?? []),
    statefulSets: new Map((o.sets ?? []).map(([key, replicas, deleting]) => [key, { metadata: deleting ? { deletionTimestamp: new Date() } : {}, spec: { replicas } } as k8s.V1StatefulSet])),
    terminatingNamespaces: new Set(o.terminating ?? []),
  };
}

describe("api/statefulSetMember (the one strict ordinal rule)", () => {
  it("reads a pod named exactly <set>-<ordinal>, the ordinal in canonical decimal", () => {
    expect(statefulSetMember("web", "web-0")).to.deep.equal({ name: "web", ordinal: 0 });
    expect(statefulSetMember("web", "web-10")).to.deep.equal({ name: "web", ordinal: 10 });
    expect(statefulSetMember("a-b-1", "a-b-1-2")).to.deep.equal({ name: "a-b-1", ordinal: 2 });
    expect(statefulSetMember("web", `web-${Number.MAX_SAFE_INTEGER}`)).to.deep.equal({ name: "web", ordinal: Number.MAX_SAFE_INTEGER });
  });

  it("reads no ordinal Number() would bend onto another pod's (web-00, web-1e0, web- 1, web-0x1, ...)", () => {
    const bad = ["web-00", "web-01", "web-1e0", "web- 1", "web-1 ", "web-0x1", "web-0b1", "web-0o1", "web-+1", "web--1", "web-1.0", "web-1_0", "web-", "web-٣", "web-９"];
    for (const pod of bad) expect(statefulSetMember("web", pod), pod).to.equal(undefined);
    // Beyond Number.MAX_SAFE_INTEGER two ordinals would read as one number.
    expect(statefulSetMember("web", "web-9007199254740992")).to.equal(undefined);
    expect(statefulSetMember("web", "web-9007199254740993")).to.equal(undefined);
    expect(statefulSetMember("web", `web-1${"0".repeat(400)}`)).to.equal(undefined);
  });

  it("reads no ordinal from a pod of another name, or of no set", () => {
    for (const pod of ["web", "web0", "webx-0", "other-0", "a-b-1"]) expect(statefulSetMember("web", pod), pod).to.equal(undefined);
    expect(statefulSetMember("a-b", "a-b-1-2")).to.equal(undefined); // "1-2" is no ordinal of a-b
    expect(statefulSetMember("", "-0")).to.equal(undefined);
  });

  it("holds holder keys to the same rule, so a stored key names exactly the pod it keys", () => {
    expect(parseHolder("default/a-b-1/2")).to.deep.equal({ namespace: "default", statefulSet: "a-b-1", ordinal: 2, pod: "a-b-1-2" });
    expect(parseHolder("default/web/0")).to.deep.equal({ namespace: "default", statefulSet: "web", ordinal: 0, pod: "web-0" });
    for (const key of ["default/web/00", "default/web/1e0", "default/web/ 1", "default/web/0x1", "default/web/-0", "default/web/", "default/web/9007199254740992", "default/web/1/2", "/web/1"]) {
      expect(parseHolder(key), key).to.equal(undefined);
    }
    // Not a key pinpool writes: the controller leaves it alone rather than judge it by web-0.
    expect(holderGone("default/web/00", view({}))).to.equal(undefined);
    // holderKey and parseHolder agree on every member the rule admits.
    const member = statefulSetMember("a-b-1", "a-b-1-2");
    expect(parseHolder(holderKey("default", "a-b-1-2", member))).to.deep.include({ statefulSet: "a-b-1", ordinal: 2, pod: "a-b-1-2" });
  });
});

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
