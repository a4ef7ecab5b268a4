import { expect } from "chai";
import { ADOPTED_ANNOTATION, autoPoolOwner, decideAutoPool } from "../../../src/controller/auto-pools.js";
import type { WorkloadObject } from "../../../src/api/names.js";
import { LABEL } from "../../../src/api/labels.js";
import type { SpiderIPPool } from "../../../src/api/types.js";
import { autoPoolName } from "../../../src/api/names.js";

const owner = { kind: "Deployment" as const, namespace: "default", name: "nginx" };
const name = autoPoolName(owner, "eth0", 4);
const created = Date.UTC(2026, 10, 26, 12, 0, 0);

function pool(o: { ips?: string[]; reclaim?: boolean; ownerUid?: string; keptFor?: string; allocated?: number } = {}): SpiderIPPool {
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
      ...(o.keptFor ? { annotations: { [ADOPTED_ANNOTATION]: o.keptFor } } : {}),
    },
    spec: { subnet: "10.244.0.0/16", ips: o.ips ?? ["10.244.100.90-10.244.100.94"] },
    status: { allocatedIPCount: o.allocated ?? 0 },
  };
}

function deployment(uid: string, replicas: number, ipNumber = "+3"): WorkloadObject {
  return {
    metadata: { uid },
    spec: { replicas, template: { metadata: { annotations: { "ipam.spidernet.io/subnet": '{"ipv4":["nginx-subnet-v4"]}', "ipam.spidernet.io/ippool-ip-number": ipNumber } } } },
  };
}

describe("controller/auto-pools decideAutoPool", () => {
  it("reads the owner from Spiderpool's labels; a manual pool has none", () => {
    expect(autoPoolOwner(pool())).to.deep.equal(owner);
    expect(autoPoolOwner({ ...pool(), metadata: { name: "manual" } })).to.equal(undefined);
  });

  it("adopts a reclaimed pool by owner reference once its workload exists, a kept one by annotation", () => {
    expect(decideAutoPool(pool(), owner, deployment("d-1", 2), created + 1000, 60_000)).to.deep.equal({
      kind: "adopt",
      ownerReference: { apiVersion: "apps/v1", kind: "Deployment", name: "nginx", uid: "d-1", blockOwnerDeletion: false },
    });
    expect(decideAutoPool(pool({ reclaim: false }), owner, deployment("d-1", 2), created, 60_000)).to.deep.equal({ kind: "adopt", annotation: "d-1" });
  });

  it("deletes a pool whose workload never appeared, only after the grace period", () => {
    expect(decideAutoPool(pool(), owner, undefined, created + 59_999, 60_000)).to.deep.equal({ kind: "none" });
    expect(decideAutoPool(pool(), owner, undefined, created + 60_000, 60_000)).to.deep.equal({
      kind: "delete",
      reason: "Deployment default/nginx never appeared within 60 s of the reservation",
    });
    // ippool-reclaim "false" keeps a pool after its workload, not one no workload ever used.
    expect(decideAutoPool(pool({ reclaim: false }), owner, undefined, created + 60_000, 60_000).kind).to.equal("delete");
  });

  it("after adoption: deletes with a reclaimed workload, keeps with ippool-reclaim false", () => {
    expect(decideAutoPool(pool({ ownerUid: "d-1" }), owner, undefined, created, 60_000).kind).to.equal("delete");
    expect(decideAutoPool(pool({ reclaim: false, keptFor: "d-1" }), owner, undefined, created + 3_600_000, 60_000)).to.deep.equal({ kind: "none" });
  });

  it("resizes to replicas + N when the size drifted (a /scale the webhook never saw)", () => {
    const out = decideAutoPool(pool({ ownerUid: "d-1" }), owner, deployment("d-1", 4), created, 60_000);
    expect(out).to.deep.include({ kind: "resize", from: 5n, to: 7 });
    expect(decideAutoPool(pool({ ownerUid: "d-1" }), owner, deployment("d-1", 2), created, 60_000)).to.deep.equal({ kind: "none" });
  });

  it("shrinks only when some address is free", () => {
    expect(decideAutoPool(pool({ ownerUid: "d-1", allocated: 5 }), owner, deployment("d-1", 1), created, 60_000)).to.deep.equal({ kind: "none" });
    expect(decideAutoPool(pool({ ownerUid: "d-1", allocated: 4 }), owner, deployment("d-1", 1), created, 60_000)).to.deep.include({ kind: "resize", to: 4 });
  });

  it("leaves a pool being deleted alone, and a workload whose annotation the webhook would refuse", () => {
    const deleting = pool();
    deleting.metadata.deletionTimestamp = new Date(created).toISOString();
    expect(decideAutoPool(deleting, owner, undefined, created + 3_600_000, 60_000)).to.deep.equal({ kind: "none" });
    expect(decideAutoPool(pool({ ownerUid: "d-1" }), owner, deployment("d-1", 4, "+x"), created, 60_000)).to.deep.equal({ kind: "none" });
  });
});
