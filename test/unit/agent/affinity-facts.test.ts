import { expect } from "chai";
import { ApiException, type AppsV1Api, type CoreV1Api, type V1Namespace, type V1Node, type V1ReplicaSet } from "@kubernetes/client-node";
import { AffinityFacts, NAMESPACE_TTL_MS, NODE_LABELS_TTL_MS, OWNER_TTL_MS } from "../../../src/agent/affinity-facts.js";
import { ExpiringCache } from "../../../src/agent/expiring-cache.js";
import { type PodFacts, podFacts } from "../../../src/agent/pod.js";
import type { PoolSubject } from "../../../src/api/pool-affinity.js";
import { isTransient } from "../../../src/k8s/transient.js";

const apiError = (code: number): ApiException<unknown> => new ApiException<unknown>(code, "Unknown API Status Code!", JSON.stringify({ kind: "Status", code }), {});

/** An API server with ReplicaSets, namespaces and one node; counts every read. */
function fakeApi(o: { replicaSets?: V1ReplicaSet[]; failReplicaSets?: number } = {}) {
  const reads: string[] = [];
  let failures = o.failReplicaSets ?? 0;
  const core = {
    readNamespace: ({ name }: { name: string }): Promise<V1Namespace> => {
      reads.push(`namespace ${name}`);
      return Promise.resolve({ metadata: { name, labels: { team: name }, annotations: {} } });
    },
    readNode: ({ name }: { name: string }): Promise<V1Node> => {
      reads.push(`node ${name}`);
      return Promise.resolve({ metadata: { name, labels: { rack: "a" } } });
    },
  };
  const apps = {
    readNamespacedReplicaSet: ({ namespace, name }: { namespace: string; name: string }): Promise<V1ReplicaSet> => {
      reads.push(`replicaset ${namespace}/${name}`);
      if (failures > 0) {
        failures--;
        return Promise.reject(apiError(503));
      }
      const rs = o.replicaSets?.find((r) => r.metadata?.namespace === namespace && r.metadata.name === name);
      return rs ? Promise.resolve(structuredClone(rs)) : Promise.reject(apiError(404));
    },
  };
  return { core: core as unknown as CoreV1Api, apps: apps as unknown as AppsV1Api, reads };
}

const paymentsRS: V1ReplicaSet = {
  metadata: { name: "payments-7d9f", namespace: "prod", uid: "rs-1", ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: "payments", uid: "d-1", controller: true }] },
};
const rsPod = (name: string, namespace = "prod", uid = "rs-1"): PodFacts =>
  podFacts({ metadata: { name, namespace, uid: name, ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "payments-7d9f", uid, controller: true }] } }, "node1");
const subjectOf = (f: PodFacts): PoolSubject => ({ namespace: f.namespace, pod: f.name, node: "node1", interface: "eth0", podLabels: f.labels });

describe("agent/AffinityFacts (what pools ask about a pod, read only when asked, cached)", () => {
  it("reads nothing when no pool asks, and nothing for a bare pod's or a StatefulSet pod's workload", async () => {
    const api = fakeApi();
    const facts = new AffinityFacts(api.core, api.apps, "node1");
    const bare = podFacts({ metadata: { name: "x", namespace: "dev", labels: { "ipam.spidernet.io/app-name": "payments" } } }, "node1");
    const s = subjectOf(bare);
    await facts.complete(s, bare, []);
    expect(s).to.not.have.property("owner");
    await facts.complete(s, bare, ["owner"]);
    expect(s.owner).to.equal(null);
    const web = podFacts({ metadata: { name: "web-0", namespace: "prod", ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "web", uid: "s-1", controller: true }] } }, "node1");
    const ws = subjectOf(web);
    await facts.complete(ws, web, ["owner"]);
    expect(ws.owner).to.deep.equal({ apiVersion: "apps/v1", kind: "StatefulSet", name: "web", uid: "s-1" });
    expect(api.reads).to.deep.equal([]);
  });

  it("reads a ReplicaSet once for all its pods (concurrent and later ones), and again after 10 minutes", async () => {
    let now = 0;
    const api = fakeApi({ replicaSets: [paymentsRS] });
    const facts = new AffinityFacts(api.core, api.apps, "node1", () => now);
    const subjects = ["a", "b", "c"].map((n) => ({ pod: rsPod(`payments-7d9f-${n}`), s: subjectOf(rsPod(`payments-7d9f-${n}`)) }));
    await Promise.all(subjects.map(({ pod, s }) => facts.complete(s, pod, ["owner"])));
    for (const { s } of subjects) expect(s.owner).to.deep.equal({ apiVersion: "apps/v1", kind: "Deployment", name: "payments", uid: "d-1" });
    now = OWNER_TTL_MS - 1;
    await facts.complete(subjectOf(rsPod("payments-7d9f-d")), rsPod("payments-7d9f-d"), ["owner"]);
    expect(api.reads).to.deep.equal(["replicaset prod/payments-7d9f"]);
    now = OWNER_TTL_MS;
    await facts.complete(subjectOf(rsPod("payments-7d9f-e")), rsPod("payments-7d9f-e"), ["owner"]);
    expect(api.reads).to.have.length(2);
  });

  it("keys ReplicaSets by the UID the pod's ownerReference names: a namesake made since is read afresh, never served the old one's answer", async () => {
    let now = 0;
    const replicaSets = [paymentsRS];
    const api = fakeApi({ replicaSets });
    const facts = new AffinityFacts(api.core, api.apps, "node1", () => now);
    const ownerOf = async (pod: PodFacts) => {
      const s = subjectOf(pod);
      await facts.complete(s, pod, ["owner"]);
      return s.owner;
    };
    expect(await ownerOf(rsPod("old-a"))).to.deep.include({ kind: "Deployment", name: "payments", uid: "d-1" });
    // Deleted and made again under the same name, now owned by another Deployment.
    replicaSets[0] = { metadata: { ...paymentsRS.metadata, uid: "rs-2", ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: "payments", uid: "d-2", controller: true }] } };
    expect(await ownerOf(rsPod("new-a", "prod", "rs-2"))).to.deep.include({ uid: "d-2" });
    expect(api.reads).to.deep.equal(["replicaset prod/payments-7d9f", "replicaset prod/payments-7d9f"]);
    // A pod still naming the old UID: its ReplicaSet is gone, which the read within the TTL does not yet know.
    expect(await ownerOf(rsPod("old-b"))).to.deep.include({ uid: "d-1" });
    now = OWNER_TTL_MS;
    expect(await ownerOf(rsPod("old-c"))).to.equal(null);
  });

  it("takes a ReplicaSet that is gone (404) as no workload, and keeps that answer", async () => {
    const api = fakeApi();
    const facts = new AffinityFacts(api.core, api.apps, "node1");
    for (const n of ["a", "b"]) {
      const s = subjectOf(rsPod(n));
      await facts.complete(s, rsPod(n), ["owner"]);
      expect(s.owner).to.equal(null);
    }
    expect(api.reads).to.deep.equal(["replicaset prod/payments-7d9f"]);
  });

  it("lets a 503 through (transient: the ADD runs again, then CNI code 11) and keeps nothing of it", async () => {
    const api = fakeApi({ replicaSets: [paymentsRS], failReplicaSets: 1 });
    const facts = new AffinityFacts(api.core, api.apps, "node1");
    const s = subjectOf(rsPod("a"));
    const failed = await facts.complete(s, rsPod("a"), ["owner"]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isTransient(failed)).to.equal(true);
    expect(s).to.not.have.property("owner");
    await facts.complete(s, rsPod("a"), ["owner"]);
    expect(s.owner).to.deep.include({ kind: "Deployment", name: "payments" });
    expect(api.reads).to.have.length(2);
  });

  it("keys ReplicaSets by namespace too: a pod in dev naming prod's ReplicaSet UID spoils nothing for prod's pods", async () => {
    const api = fakeApi({ replicaSets: [paymentsRS] });
    const facts = new AffinityFacts(api.core, api.apps, "node1");
    const forged = rsPod("x", "dev");
    const fs = subjectOf(forged);
    await facts.complete(fs, forged, ["owner"]);
    expect(fs.owner).to.equal(null);
    const real = subjectOf(rsPod("a"));
    await facts.complete(real, rsPod("a"), ["owner"]);
    expect(real.owner).to.deep.include({ kind: "Deployment", name: "payments" });
  });

  it("keeps a namespace 30 s for its annotations (an ADD of a pod naming no pool) and its labels alike", async () => {
    let now = 0;
    const api = fakeApi();
    const facts = new AffinityFacts(api.core, api.apps, "node1", () => now);
    const storm = await Promise.all(Array.from({ length: 20 }, () => facts.namespace("prod")));
    expect(storm.map((ns) => ns.metadata?.labels)).to.deep.equal(Array.from({ length: 20 }, () => ({ team: "prod" })));
    now = NAMESPACE_TTL_MS - 1;
    await facts.namespace("prod");
    await facts.complete(subjectOf(rsPod("a")), rsPod("a"), ["namespaceLabels"]);
    expect(api.reads).to.deep.equal(["namespace prod"]);
    now = NAMESPACE_TTL_MS;
    await facts.namespace("prod");
    await facts.namespace("dev");
    expect(api.reads).to.deep.equal(["namespace prod", "namespace prod", "namespace dev"]);
  });

  it("keeps namespace and node labels 30 s; a namespace read for its annotations serves its labels too", async () => {
    let now = 0;
    const api = fakeApi();
    const facts = new AffinityFacts(api.core, api.apps, "node1", () => now);
    expect((await facts.namespace("prod")).metadata?.annotations).to.deep.equal({});
    const pod = rsPod("a");
    const s = subjectOf(pod);
    await facts.complete(s, pod, ["namespaceLabels", "nodeLabels"]);
    expect([s.namespaceLabels, s.nodeLabels]).to.deep.equal([{ team: "prod" }, { rack: "a" }]);
    const again = subjectOf(pod);
    await facts.complete(again, pod, ["namespaceLabels", "nodeLabels"]);
    expect(api.reads).to.deep.equal(["namespace prod", "node node1"]);
    expect(NODE_LABELS_TTL_MS).to.equal(NAMESPACE_TTL_MS);
    now = NAMESPACE_TTL_MS;
    await facts.complete(subjectOf(pod), pod, ["namespaceLabels", "nodeLabels"]);
    expect(api.reads).to.deep.equal(["namespace prod", "node node1", "namespace prod", "node node1"]);
  });
});

describe("agent/ExpiringCache", () => {
  it("shares one read among concurrent callers, keeps at most `max` (the oldest goes), and forgets failures", async () => {
    let reads = 0;
    const cache = new ExpiringCache<number>({ ttlMs: 1_000, max: 2, now: () => 0 });
    const read = (v: number) => () => {
      reads++;
      return Promise.resolve(v);
    };
    expect(await Promise.all([cache.get("a", read(1)), cache.get("a", read(2))])).to.deep.equal([1, 1]);
    await cache.get("b", read(2));
    await cache.get("c", read(3));
    expect(await cache.get("a", read(4))).to.equal(4); // "a" was the oldest
    expect(reads).to.equal(4);
    await cache.get("d", () => Promise.reject(new Error("boom"))).catch(() => undefined);
    expect(await cache.get("d", read(5))).to.equal(5);
  });
});
