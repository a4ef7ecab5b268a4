import { expect } from "chai";
import { ApiException, type CustomObjectsApi } from "@kubernetes/client-node";
import { type ClaimDecision, decideClaim } from "../../../src/agent/claim.js";
import type { SpiderIPPool } from "../../../src/api/types.js";
import { AllocationRecord } from "../../../src/ip/allocation-record.js";
import { RangeSet } from "../../../src/ip/range-set.js";
import { AllocationWriter, newer } from "../../../src/reservation/allocations.js";

const pool = (rv: string, holders: string[] = []): SpiderIPPool => {
  const record = AllocationRecord.decode(4, undefined);
  holders.forEach((h, i) => record.allocate(BigInt(0x0a000001 + i), h));
  return { apiVersion: "spiderpool.spidernet.io/v2beta1", kind: "SpiderIPPool", metadata: { name: "p", resourceVersion: rv }, spec: { subnet: "10.0.0.0/24", ips: ["10.0.0.1-10.0.0.9"] }, status: { allocations: record.encode() } };
};
const holdersOf = (p: SpiderIPPool): string[] => [...AllocationRecord.decode(4, p.status?.allocations).holders()].sort();

/** An API server holding one pool: counts GETs, answers a status write with a stale resourceVersion with 409. */
function fakeServer(initial: SpiderIPPool): { api: CustomObjectsApi; stored: () => SpiderIPPool; gets: () => number; writes: () => number } {
  let stored = initial;
  let gets = 0;
  let writes = 0;
  const api = {
    getClusterCustomObject: () => {
      gets++;
      return Promise.resolve(structuredClone(stored));
    },
    replaceClusterCustomObjectStatus: ({ body }: { body: SpiderIPPool }) => {
      writes++;
      if (body.metadata.resourceVersion !== stored.metadata.resourceVersion) return Promise.reject(new ApiException(409, "Conflict", "{}", {}));
      stored = { ...body, metadata: { ...body.metadata, resourceVersion: String(Number(stored.metadata.resourceVersion) + 1) } };
      return Promise.resolve(structuredClone(stored));
    },
  };
  return { api: api as unknown as CustomObjectsApi, stored: () => stored, gets: () => gets, writes: () => writes };
}

const claim = (w: AllocationWriter, pod: string) =>
  w.submit<ClaimDecision & { write?: SpiderIPPool }>("p", (p) => decideClaim(p, "p", 4, { holder: `ns/${pod}`, use: { interface: "eth0", sandbox: "AAAAAA" }, subject: { namespace: "ns", pod, node: "n", interface: "eth0", podLabels: {} } }, RangeSet.empty(4)));
const fast = { attempts: 5, baseDelayMs: 1 };

describe("reservation/AllocationWriter with a watch cache", () => {
  it("claims with one write and no read when the cache is current", async () => {
    const server = fakeServer(pool("10"));
    const w = new AllocationWriter(server.api, fast, () => server.stored());
    await claim(w, "a");
    expect([server.gets(), server.writes()]).to.deep.equal([0, 1]);
    expect(holdersOf(server.stored())).to.deep.equal(["ns/a"]);
  });

  it("starts the next claim from its own last write while the cache still shows the older copy", async () => {
    const server = fakeServer(pool("10"));
    const old = server.stored();
    const w = new AllocationWriter(server.api, fast, () => old); // a cache that never catches up
    await claim(w, "a");
    await claim(w, "b");
    expect([server.gets(), server.writes()]).to.deep.equal([0, 2]);
    expect(holdersOf(server.stored())).to.deep.equal(["ns/a", "ns/b"]);
  });

  it("reads the pool from the API server after a 409 on a stale cached copy, and decides again", async () => {
    const server = fakeServer(pool("10"));
    const stale = pool("7"); // another writer moved the pool on; the cache has not seen it
    const w = new AllocationWriter(server.api, fast, () => stale);
    const other = fakeServer(pool("10"));
    await claim(new AllocationWriter(other.api, fast), "x"); // (the other writer's claim, on a copy of the pool)
    server.stored().status = other.stored().status;
    const d = await claim(w, "a");
    expect(d.kind).to.equal("claimed");
    expect([server.gets(), server.writes()]).to.deep.equal([1, 2]);
    expect(holdersOf(server.stored())).to.deep.equal(["ns/a", "ns/x"]);
  });

  it("reads a pool the cache does not know", async () => {
    const server = fakeServer(pool("10"));
    const w = new AllocationWriter(server.api, fast, () => undefined);
    await claim(w, "a");
    expect([server.gets(), server.writes()]).to.deep.equal([1, 1]);
  });
});

describe("reservation/newer", () => {
  it("prefers the higher resourceVersion, and the first copy when they are not integers", () => {
    expect(newer(pool("9"), pool("10")).metadata.resourceVersion).to.equal("10");
    expect(newer(pool("10"), pool("9")).metadata.resourceVersion).to.equal("10");
    expect(newer(pool("a"), pool("10")).metadata.resourceVersion).to.equal("a");
    expect(newer(pool("5"), undefined).metadata.resourceVersion).to.equal("5");
  });
});
