/**
 * An ADD on a full pool waits for the address of a pod being deleted (a rollout's old pod in
 * its preStop) instead of failing the sandbox, within its bound; a pool full of running pods
 * fails at once, as before (issue 21).
 */
import { expect } from "chai";
import { ApiException, type V1Pod } from "@kubernetes/client-node";
import type { CniRequest } from "../../../src/agent/protocol.js";
import type { SpiderIPPool } from "../../../src/api/types.js";
import { fakeIpam, poolWrites } from "./fake-api.js";

const ANNOTATIONS = { "ipam.spidernet.io/ippool": JSON.stringify({ ipv4: ["p"] }) };
const running = (name: string): V1Pod => ({ metadata: { name, namespace: "t", uid: `uid-${name}`, annotations: ANNOTATIONS } });
/** A pod of ReplicaSet `rs` (of Deployment web). */
const ofReplicaSet = (name: string, rs: string, namespace = "t"): V1Pod => ({
  metadata: { ...running(name).metadata, namespace, labels: { "pod-template-hash": rs.split("-").pop() as string }, ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: rs, uid: `uid-${rs}`, controller: true }] },
});
const deleting = (name: string): V1Pod => ({ metadata: { ...running(name).metadata, deletionTimestamp: new Date("2026-12-07T00:00:00Z") } });

/** Pool p: 10.0.1.10 and .11, held by `holders` (pod names in namespace t). */
const fullPool = (holders: string[]): SpiderIPPool => ({
  apiVersion: "spiderpool.spidernet.io/v2beta1",
  kind: "SpiderIPPool",
  metadata: { name: "p", resourceVersion: "1" },
  spec: { subnet: "10.0.1.0/24", ips: ["10.0.1.10-10.0.1.11"] },
  status: { allocations: { prefixes: ["t/"], ips: ["10.0.1.10", "10.0.1.11"], holders: holders.map((h) => `0:${h}`) }, allocatedIPCount: holders.length },
});

/** `pods` exist; all but the last (the claimant) hold p's two addresses. */
function cluster(pods: V1Pod[], addWaitMs: number) {
  const pools = new Map([["p", fullPool(pods.slice(0, -1).map((p) => p.metadata?.name as string))]]);
  const notFound = () => Promise.reject(new ApiException<unknown>(404, "Not Found", "{}", {}));
  const reads: string[] = [];
  const core = {
    readNamespacedPod: ({ name }: { name: string }) => {
      reads.push(name);
      const pod = pods.find((p) => p.metadata?.name === name);
      return pod ? Promise.resolve(structuredClone(pod)) : notFound();
    },
    readNamespace: ({ name }: { name: string }) => Promise.resolve({ metadata: { name } }),
  };
  const custom = {
    ...poolWrites(pools),
    getClusterCustomObject: ({ name }: { name: string }) => (pools.has(name) ? Promise.resolve(structuredClone(pools.get(name))) : notFound()),
    listClusterCustomObject: ({ plural }: { plural: string }) => Promise.resolve({ items: plural === "spiderippools" ? [...pools.values()] : [] }),
    getNamespacedCustomObject: notFound,
  };
  const log: string[] = [];
  return { ipam: fakeIpam({ core, apps: {}, custom }, undefined, log, addWaitMs), pools, reads, log };
}

/** What the agent's DEL of old pod `holder` does to the stored pool: its address freed. */
function release(pools: Map<string, SpiderIPPool>, holder: string): void {
  const p = pools.get("p") as SpiderIPPool;
  const a = p.status?.allocations as { prefixes: string[]; ips: string[]; holders: string[] };
  const keep = a.holders.map((h, i) => [h, a.ips[i]] as const).filter(([h]) => h !== `0:${holder}`);
  pools.set("p", {
    ...p,
    metadata: { ...p.metadata, resourceVersion: String(Number(p.metadata.resourceVersion) + 1) },
    status: { allocations: { prefixes: a.prefixes, ips: keep.map(([, ip]) => ip as string), holders: keep.map(([h]) => h) }, allocatedIPCount: keep.length },
  });
}

const add = (name: string): CniRequest => ({ command: "ADD", containerID: `c-${name}`, ifName: "eth0", args: {}, cniVersion: "1.0.0", config: {}, pod: { namespace: "t", name } });

describe("agent ADD on a full pool (release-wait.ts)", () => {
  it("waits for the address of a pod being deleted and takes it the moment it is released", async () => {
    const { ipam, pools, log } = cluster([deleting("old-a"), running("old-b"), running("new")], 30_000);
    const answer = ipam.add(add("new"));
    await new Promise((r) => setTimeout(r, 300));
    release(pools, "old-a");
    expect((await answer).ips.map((i) => i.address)).to.deep.equal(["10.0.1.10/24"]);
    expect(log[0]).to.equal("every IPv4 pool is full; waiting up to 30 s for the address t/old-a releases (being deleted, or of an older revision)");
  });

  it("waits for an older revision's running pod too (the rollout deletes it once new pods are ready), not for its own revision's", async () => {
    const pods = [ofReplicaSet("web-old1-a", "web-old1"), ofReplicaSet("web-new2-b", "web-new2"), ofReplicaSet("web-new2-c", "web-new2")];
    const { ipam, pools, log } = cluster(pods, 30_000);
    const answer = ipam.add(add("web-new2-c"));
    await new Promise((r) => setTimeout(r, 300));
    release(pools, "web-old1-a");
    expect((await answer).ips.map((i) => i.address)).to.deep.equal(["10.0.1.10/24"]);
    expect(log[0]).to.equal("every IPv4 pool is full; waiting up to 30 s for the address t/web-old1-a releases (being deleted, or of an older revision)");
    const same = cluster([ofReplicaSet("web-new2-a", "web-new2"), ofReplicaSet("web-new2-b", "web-new2"), ofReplicaSet("web-new2-c", "web-new2")], 60_000);
    // (the claimant web-new2-c holds nothing: the pool's two addresses are a's and b's)
    const failed = await same.ipam.add(add("web-new2-c")).then(() => undefined, (e: unknown) => e as { code: number });
    expect(failed).to.deep.include({ code: 102 });
  });

  it("stops waiting when its own pod is deleted meanwhile, and takes nothing", async () => {
    const pods = [deleting("old-a"), running("old-b"), running("new")];
    const { ipam, pools } = cluster(pods, 30_000);
    const answer = ipam.add(add("new")).then(() => undefined, (e: unknown) => e as { code: number; msg: string });
    await new Promise((r) => setTimeout(r, 300));
    pods[2] = deleting("new");
    const failed = await answer;
    expect(failed).to.deep.include({ code: 3, msg: "pod t/new was deleted while it waited for an address" });
    expect(pools.get("p")?.status?.allocations?.holders).to.deep.equal(["0:old-a", "0:old-b"]);
  });

  it("fails at once when every holder is running: nothing is about to come free", async () => {
    const { ipam } = cluster([running("old-a"), running("old-b"), running("new")], 60_000);
    const failed = await ipam.add(add("new")).then(() => undefined, (e: unknown) => e as { code: number; msg: string });
    expect(failed).to.deep.include({ code: 102, msg: 'SpiderIPPool "p" is exhausted' });
  });

  it("fails with the pool's exhaustion once its bound passes without a release", async () => {
    const { ipam, reads } = cluster([deleting("old-a"), running("old-b"), running("new")], 500);
    const failed = await ipam.add(add("new")).then(() => undefined, (e: unknown) => e as { code: number });
    expect(failed).to.deep.include({ code: 102 });
    expect(reads.filter((n) => n === "old-a")).to.have.length(1); // looked up once, not at every poll
  });

  it("does not wait when the bound is 0 (PINPOOL_ADD_WAIT_SECONDS=0)", async () => {
    const { ipam, reads } = cluster([deleting("old-a"), running("old-b"), running("new")], 0);
    const failed = await ipam.add(add("new")).then(() => undefined, (e: unknown) => e as { code: number });
    expect(failed).to.deep.include({ code: 102 });
    expect(reads).to.not.include("old-a");
  });
});
