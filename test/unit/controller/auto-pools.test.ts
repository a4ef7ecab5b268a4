import { expect } from "chai";
import { ADOPTED_ANNOTATION, decideAutoPool, missingPools } from "../../../src/controller/auto-pools.js";
import { ANNOTATION } from "../../../src/api/annotations.js";
import { planReservation } from "../../../src/reservation/plan.js";
import { autoPoolOwner } from "../../../src/api/auto-pool-owner.js";
import type { WorkloadObject } from "../../../src/api/names.js";
import { LABEL } from "../../../src/api/labels.js";
import type { SpiderIPPool } from "../../../src/api/types.js";
import { autoPoolName } from "../../../src/api/names.js";

const owner = { kind: "Deployment" as const, namespace: "default", name: "nginx" };
const name = autoPoolName(owner, "eth0", 4, "nginx-subnet-v4");
const created = Date.UTC(2026, 10, 26, 12, 0, 0);

function pool(o: { ips?: string[]; reclaim?: boolean; ownerUid?: string; adopted?: string; allocated?: number } = {}): SpiderIPPool {
  return {
    apiVersion: "spiderpool.spidernet.io/v2beta1",
    kind: "SpiderIPPool",
    metadata: {
      name,
      uid: "pool-uid",
      creationTimestamp: new Date(created).toISOString(),
      labels: {
        [LABEL.ownerGV]: "apps_v1",
        [LABEL.ownerKind]: "Deployment",
        [LABEL.ownerNamespace]: "default",
        [LABEL.ownerName]: "nginx",
        [LABEL.ownerSubnet]: "nginx-subnet-v4",
        [LABEL.reclaim]: String(o.reclaim ?? true),
      },
      ...(o.ownerUid ? { ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: "nginx", uid: o.ownerUid }] } : {}),
      ...(o.adopted ? { annotations: { [ADOPTED_ANNOTATION]: o.adopted } } : {}),
    },
    spec: { subnet: "10.244.0.0/16", ips: o.ips ?? ["10.244.100.90-10.244.100.94"] },
    status: { allocatedIPCount: o.allocated ?? 0 },
  };
}

function deployment(uid: string, replicas: number, ipNumber = "+3", extra: Record<string, string> = {}): WorkloadObject {
  return {
    metadata: { uid },
    spec: { replicas, template: { metadata: { annotations: { "ipam.spidernet.io/subnet": '{"ipv4":["nginx-subnet-v4"]}', "ipam.spidernet.io/ippool-ip-number": ipNumber, ...extra } } } },
  };
}

describe("controller/auto-pools decideAutoPool", () => {
  it("reads the owner from Spiderpool's labels; a manual pool has none", () => {
    expect(autoPoolOwner(pool())).to.deep.equal(owner);
    expect(autoPoolOwner({ ...pool(), metadata: { name: "manual" } })).to.equal(undefined);
  });

  it("adopts by the workload's UID in an annotation, never an ownerReference (cluster-scoped → namespaced is refused by the GC), and drops an old one", () => {
    expect(decideAutoPool(pool(), owner, deployment("d-1", 2), created + 1000, 60_000)).to.deep.equal({ kind: "adopt", uid: "d-1", reclaim: true });
    expect(decideAutoPool(pool({ reclaim: false }), owner, deployment("d-1", 2, "+3", { "ipam.spidernet.io/ippool-reclaim": "false" }), created, 60_000)).to.deep.equal({
      kind: "adopt",
      uid: "d-1",
      reclaim: false,
    });
    expect(decideAutoPool(pool({ adopted: "d-1", ownerUid: "d-1" }), owner, deployment("d-1", 2), created, 60_000)).to.deep.equal({ kind: "adopt", uid: "d-1", reclaim: true });
    // Re-created under the same name: the new UID adopts the same pool.
    expect(decideAutoPool(pool({ adopted: "d-1" }), owner, deployment("d-2", 2), created, 60_000)).to.deep.equal({ kind: "adopt", uid: "d-2", reclaim: true });
  });

  it("re-adopts a pool whose Spiderpool owner-UID label names an older workload, so the agent serves the re-created one", () => {
    const labelled = (uid: string): SpiderIPPool => {
      const p = pool({ adopted: "d-2" });
      return { ...p, metadata: { ...p.metadata, labels: { ...p.metadata.labels, [LABEL.ownerUID]: uid } } };
    };
    expect(decideAutoPool(labelled("d-1"), owner, deployment("d-2", 2), created, 60_000)).to.deep.equal({ kind: "adopt", uid: "d-2", reclaim: true });
    expect(decideAutoPool(labelled("d-2"), owner, deployment("d-2", 2), created, 60_000).kind).to.not.equal("adopt");
  });

  it("honours an ippool-reclaim toggle on the live workload", () => {
    expect(decideAutoPool(pool({ adopted: "d-1" }), owner, deployment("d-1", 2, "+3", { "ipam.spidernet.io/ippool-reclaim": "false" }), created, 60_000)).to.deep.equal({
      kind: "adopt",
      uid: "d-1",
      reclaim: false,
    });
    expect(decideAutoPool(pool({ adopted: "d-1", reclaim: false }), owner, deployment("d-1", 2), created, 60_000)).to.deep.equal({ kind: "adopt", uid: "d-1", reclaim: true });
  });

  it("releases a pool whose workload never appeared, only after the grace period", () => {
    expect(decideAutoPool(pool(), owner, undefined, created + 59_999, 60_000), "asked again at a later sweep").to.deep.equal({ kind: "none", recheck: true });
    expect(decideAutoPool(pool(), owner, undefined, created + 60_000, 60_000)).to.deep.equal({
      kind: "release",
      reason: "Deployment default/nginx never appeared within 60 s of the reservation",
    });
    // ippool-reclaim "false" keeps a pool after its workload, not one no workload ever used.
    expect(decideAutoPool(pool({ reclaim: false }), owner, undefined, created + 60_000, 60_000).kind).to.equal("release");
  });

  it("after adoption: releases with a reclaimed workload gone, keeps with ippool-reclaim false", () => {
    expect(decideAutoPool(pool({ adopted: "d-1" }), owner, undefined, created, 60_000)).to.deep.equal({ kind: "release", reason: "Deployment default/nginx is gone and the pool is reclaimed with it" });
    expect(decideAutoPool(pool({ ownerUid: "d-1" }), owner, undefined, created, 60_000).kind).to.equal("release");
    expect(decideAutoPool(pool({ reclaim: false, adopted: "d-1" }), owner, undefined, created + 3_600_000, 60_000)).to.deep.equal({ kind: "none" });
  });

  it("releases a pool the live workload no longer names (subnet switched, family or interface dropped, annotation removed)", () => {
    const switched = deployment("d-1", 2, "+3", { "ipam.spidernet.io/subnet": '{"ipv4":["other-subnet"]}' });
    expect(decideAutoPool(pool({ adopted: "d-1" }), owner, switched, created, 60_000)).to.deep.equal({ kind: "release", reason: "Deployment default/nginx no longer names this pool (its subnet annotations changed)" });
    const plain: WorkloadObject = { metadata: { uid: "d-1" }, spec: { replicas: 2, template: { metadata: { annotations: {} } } } };
    expect(decideAutoPool(pool({ adopted: "d-1" }), owner, plain, created, 60_000).kind).to.equal("release");
  });

  it("keeps a pool the pod template still names under an older name (0.1.0), sizing it as the plan's pool for its interface and family", () => {
    const legacy = { ...pool({ adopted: "d-1" }), metadata: { ...pool({ adopted: "d-1" }).metadata, name: "auto4-nginx-eth0-0123456789", labels: { ...pool().metadata.labels, [LABEL.interface]: "eth0" } } };
    const named = deployment("d-1", 4, "+3", { "pinpool.io/reserved-ippools": '[{"interface":"eth0","ipv4":["auto4-nginx-eth0-0123456789"]}]' });
    const out = decideAutoPool(legacy, owner, named, created, 60_000);
    expect(out).to.deep.include({ kind: "resize", from: 5n, to: 7 });
    expect(out.kind === "resize" && out.plan.pools.map((p) => p.name)).to.deep.equal(["auto4-nginx-eth0-0123456789"]);
    // Once the template names the new pool, the old one is released.
    expect(decideAutoPool(legacy, owner, deployment("d-1", 4), created, 60_000).kind).to.equal("release");
  });

  it("resizes to replicas + N when the size drifted (a /scale the webhook never saw)", () => {
    const out = decideAutoPool(pool({ adopted: "d-1" }), owner, deployment("d-1", 4), created, 60_000);
    expect(out).to.deep.include({ kind: "resize", from: 5n, to: 7 });
    expect(decideAutoPool(pool({ adopted: "d-1" }), owner, deployment("d-1", 2), created, 60_000)).to.deep.equal({ kind: "none" });
  });

  it("shrinks only when some address is free", () => {
    expect(decideAutoPool(pool({ adopted: "d-1", allocated: 5 }), owner, deployment("d-1", 1), created, 60_000)).to.deep.equal({ kind: "none" });
    expect(decideAutoPool(pool({ adopted: "d-1", allocated: 4 }), owner, deployment("d-1", 1), created, 60_000)).to.deep.include({ kind: "resize", to: 4 });
  });

  it("leaves a pool being deleted alone, and a workload whose annotation the webhook would refuse", () => {
    const deleting = pool();
    deleting.metadata.deletionTimestamp = new Date(created).toISOString();
    expect(decideAutoPool(deleting, owner, undefined, created + 3_600_000, 60_000)).to.deep.equal({ kind: "none" });
    expect(decideAutoPool(pool({ adopted: "d-1" }), owner, deployment("d-1", 4, "+x"), created, 60_000)).to.deep.equal({ kind: "none" });
  });
});

describe("controller/missingPools (the sweep reserves a live workload's deleted pool again)", () => {
  const annotations = { "ipam.spidernet.io/subnet": '{"ipv4":["nginx-subnet-v4"]}', "ipam.spidernet.io/ippool-ip-number": "+3" };
  const reserved = planReservation(owner, annotations, { replicas: 2 })?.annotation as string;
  const live = (extra: Partial<WorkloadObject["metadata"]> = {}): WorkloadObject => ({
    metadata: { uid: "d1", namespace: "default", name: "nginx", ...extra },
    spec: { replicas: 2, template: { metadata: { annotations: { ...annotations, [ANNOTATION.reserved]: reserved } } } },
  });
  const none = { storedPools: new Set<string>(), terminatingNamespaces: new Set<string>() };

  it("names the pool a live workload's template names when it is not stored", () => {
    expect(missingPools(live(), "Deployment", none).missing).to.deep.equal([name]);
    expect(missingPools(live(), "Deployment", { ...none, storedPools: new Set([pool().metadata.name as string]) }).missing).to.deep.equal([]);
  });

  it("names none for a workload that is going, or whose namespace is (its pools were released with it)", () => {
    expect(missingPools(live({ deletionTimestamp: new Date() }), "Deployment", none).missing).to.deep.equal([]);
    expect(missingPools(live(), "Deployment", { ...none, terminatingNamespaces: new Set(["default"]) }).missing).to.deep.equal([]);
  });

  it("names none for a workload the webhook never reserved for", () => {
    expect(missingPools({ ...live(), spec: { replicas: 2, template: { metadata: { annotations } } } }, "Deployment", none).missing).to.deep.equal([]);
  });
});
