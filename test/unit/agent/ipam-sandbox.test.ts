/**
 * The agent's ADD and DEL per sandbox and interface, against a fake API server that stores
 * pools and SpiderEndpoints: a DEL releases only what its own interface of its own sandbox
 * holds, so a late DEL of a replaced sandbox leaves the pod's address, and two interfaces
 * drawing from one pool hold two addresses (issue 20).
 */
import { expect } from "chai";
import { ApiException, type V1Pod } from "@kubernetes/client-node";
import { heldPools } from "../../../src/agent/held.js";
import type { CniRequest } from "../../../src/agent/protocol.js";
import type { SpiderEndpoint, SpiderIPPool } from "../../../src/api/types.js";
import { formatAddress } from "../../../src/ip/address.js";
import { AllocationRecord } from "../../../src/ip/allocation-record.js";
import { type AllocationsStatus, sandboxDigest } from "../../../src/ip/allocation-status.js";
import { fakeIpam, poolWrites } from "./fake-api.js";

const BOTH = JSON.stringify([
  { interface: "eth0", ipv4: ["p"] },
  { interface: "net1", ipv4: ["p"] },
]);
const pod = (name: string, annotations: Record<string, string> = { "ipam.spidernet.io/ippools": BOTH }): V1Pod => ({ metadata: { name, namespace: "t", uid: `uid-${name}`, annotations } });

/** Pool `name` in 10.0.<n>.0/24 with `allocations` as stored. */
const pool = (name: string, n: number, allocations?: AllocationsStatus): SpiderIPPool => ({
  apiVersion: "spiderpool.spidernet.io/v2beta1",
  kind: "SpiderIPPool",
  metadata: { name, resourceVersion: "1" },
  spec: { subnet: `10.0.${n}.0/24`, ips: [`10.0.${n}.10-10.0.${n}.20`] },
  ...(allocations ? { status: { allocations } } : {}),
});

/** An API server with pods, pools and endpoints (endpoint writes are stored); `log` collects the agent's error logs. */
function fakeCluster(o: { pods: V1Pod[]; pools: SpiderIPPool[]; endpoints?: SpiderEndpoint[] }) {
  const pools = new Map(o.pools.map((p) => [p.metadata.name as string, structuredClone(p)]));
  const endpoints = new Map((o.endpoints ?? []).map((e) => [e.metadata.name as string, structuredClone(e)]));
  const log: string[] = [];
  const notFound = () => Promise.reject(new ApiException<unknown>(404, "Not Found", "{}", {}));
  const found = <T>(x: T | undefined) => (x ? Promise.resolve(structuredClone(x)) : notFound());
  const storeEndpoint = ({ body }: { body: SpiderEndpoint }) => {
    endpoints.set(body.metadata.name as string, structuredClone(body));
    return Promise.resolve(structuredClone(body));
  };
  const core = {
    readNamespacedPod: ({ name }: { name: string }) => found(o.pods.find((p) => p.metadata?.name === name)),
    readNamespace: ({ name }: { name: string }) => Promise.resolve({ metadata: { name } }),
  };
  const custom = {
    ...poolWrites(pools),
    getClusterCustomObject: ({ name }: { name: string }) => found(pools.get(name)),
    listClusterCustomObject: ({ plural }: { plural: string }) => Promise.resolve({ items: plural === "spiderippools" ? [...pools.values()].map((p) => structuredClone(p)) : [] }),
    getNamespacedCustomObject: ({ name }: { name: string }) => found(endpoints.get(name)),
    createNamespacedCustomObject: ({ body }: { body: SpiderEndpoint }) => (endpoints.has(body.metadata.name as string) ? Promise.reject(new ApiException<unknown>(409, "AlreadyExists", "{}", {})) : storeEndpoint({ body })),
    replaceNamespacedCustomObject: storeEndpoint,
    deleteNamespacedCustomObject: ({ name }: { name: string }) => {
      endpoints.delete(name);
      return Promise.resolve({});
    },
  };
  const ipam = fakeIpam({ core, apps: {}, custom }, undefined, log);
  return { ipam, pools, endpoints, log };
}

const cni = (command: CniRequest["command"], name: string, containerID: string, ifName = "eth0"): CniRequest => ({
  command,
  containerID,
  ifName,
  args: {},
  cniVersion: "1.0.0",
  config: {},
  pod: { namespace: "t", name },
});

/** Pool `name` as stored: each address with its holder, interface and sandbox's container ID ("?" for one recorded by none of `containers`). */
function held(pools: Map<string, SpiderIPPool>, name: string, containers: string[] = []): string[] {
  const r = AllocationRecord.decode(4, pools.get(name)?.status?.allocations);
  const idOf = new Map(containers.map((c) => [sandboxDigest(c), c]));
  return [...r.allocated().addresses()].map((a) => {
    const use = r.useOf(a);
    return `${formatAddress(4, a)} ${r.holderOf(a)} ${use ? `${use.interface} ${idOf.get(use.sandbox) ?? "?"}` : "unrecorded"}`;
  });
}

const addressOf = async (p: Promise<{ ips: Array<{ address: string }> }>): Promise<string | undefined> => (await p).ips[0]?.address;

describe("agent/heldPools (a DEL without an endpoint)", () => {
  it("reports a pool's first malformed entry once, reads none of them as the holder's, and finds the holder beside them", () => {
    const reports: string[] = [];
    const many = pool("many", 1, { prefixes: ["t/"], ips: ["10.0.1.10-10.0.1.13"], holders: [7, null, "9:a", "0:a"] as unknown as string[] });
    const none = pool("none", 2, { prefixes: ["t/"], ips: ["10.0.2.10"], holders: [["0:a"]] as unknown as string[] });
    expect(heldPools([many, none], "t/a", "eth0", (p, e) => reports.push(`${p}: ${e.message}`))).to.deep.equal([{ pool: "many", unrecorded: true }]);
    expect(reports).to.deep.equal([
      'many: invalid SpiderIPPool "many" status.allocations.holders[0] 7: expected "<index into SpiderIPPool "many" status.allocations.prefixes (0-0)>:<key suffix>"',
      'none: invalid SpiderIPPool "none" status.allocations.holders[0] ["0:a"]: expected "<index into SpiderIPPool "none" status.allocations.prefixes (0-0)>:<key suffix>"',
    ]);
  });
});

describe("agent/Ipam per sandbox: a DEL releases only its own sandbox's interface", () => {
  it("a late DEL of the replaced sandbox keeps the address the new sandbox got back", async () => {
    const c = fakeCluster({ pods: [pod("a")], pools: [pool("p", 0)] });
    expect(await addressOf(c.ipam.add(cni("ADD", "a", "sandbox-A")))).to.equal("10.0.0.10/24");
    expect(await addressOf(c.ipam.add(cni("ADD", "a", "sandbox-B")))).to.equal("10.0.0.10/24"); // fixed across sandboxes
    await c.ipam.endpoints.drain();
    await c.ipam.del(cni("DEL", "a", "sandbox-A"));
    await c.ipam.endpoints.drain();
    expect(held(c.pools, "p", ["sandbox-B"])).to.deep.equal(["10.0.0.10 t/a eth0 sandbox-B"]);
    expect(c.endpoints.get("a")?.status?.current).to.deep.include({ containerID: "sandbox-B" });
  });

  it("keeps it too when the endpoint still names the replaced sandbox (the new one's write was lost): the pool's record decides", async () => {
    const stale: SpiderEndpoint = {
      apiVersion: "spiderpool.spidernet.io/v2beta1",
      kind: "SpiderEndpoint",
      metadata: { name: "a", namespace: "t" },
      status: { current: { uid: "uid-a", node: "node1", containerID: "sandbox-A", ips: [{ interface: "eth0", ipv4: "10.0.0.10/24", ipv4Pool: "p" }] } },
    };
    const stamped = { prefixes: ["t/"], ips: ["10.0.0.10"], holders: ["0:a"], sandboxes: [sandboxDigest("sandbox-B")] };
    for (const endpoints of [[stale], []]) {
      const c = fakeCluster({ pods: [pod("a")], pools: [pool("p", 0, stamped)], endpoints });
      await c.ipam.del(cni("DEL", "a", "sandbox-A"));
      expect(held(c.pools, "p", ["sandbox-B"]), `${endpoints.length} endpoints`).to.deep.equal(["10.0.0.10 t/a eth0 sandbox-B"]);
    }
  });

  it("a DEL of the current sandbox releases its address, with or without the endpoint", async () => {
    for (const dropEndpoint of [false, true]) {
      const c = fakeCluster({ pods: [pod("a"), pod("b")], pools: [pool("p", 0)] });
      await c.ipam.add(cni("ADD", "b", "sandbox-b"));
      await c.ipam.add(cni("ADD", "a", "sandbox-A"));
      await c.ipam.add(cni("ADD", "a", "sandbox-B"));
      await c.ipam.endpoints.drain();
      if (dropEndpoint) c.endpoints.delete("a");
      await c.ipam.del(cni("DEL", "a", "sandbox-B"));
      await c.ipam.endpoints.drain();
      expect(held(c.pools, "p", ["sandbox-b"]), `without endpoint: ${dropEndpoint}`).to.deep.equal(["10.0.0.10 t/b eth0 sandbox-b"]);
      expect(c.endpoints.has("a")).to.equal(false);
    }
  });

  it("gives eth0 and net1 drawing from one pool two addresses, and each DEL releases only its own", async () => {
    const c = fakeCluster({ pods: [pod("a")], pools: [pool("p", 0)] });
    expect(await addressOf(c.ipam.add(cni("ADD", "a", "s1", "eth0")))).to.equal("10.0.0.10/24");
    expect(await addressOf(c.ipam.add(cni("ADD", "a", "s1", "net1")))).to.equal("10.0.0.11/24");
    expect(await addressOf(c.ipam.add(cni("ADD", "a", "s1", "net1")))).to.equal("10.0.0.11/24"); // a retried ADD
    await c.ipam.endpoints.drain();
    expect(c.endpoints.get("a")?.status?.current?.ips.map((i) => `${i.interface} ${i.ipv4}`)).to.deep.equal(["eth0 10.0.0.10/24", "net1 10.0.0.11/24"]);
    await c.ipam.del(cni("DEL", "a", "s1", "net1"));
    await c.ipam.endpoints.drain();
    expect(held(c.pools, "p", ["s1"])).to.deep.equal(["10.0.0.10 t/a eth0 s1"]);
    await c.ipam.del(cni("DEL", "a", "s1", "eth0"));
    expect(held(c.pools, "p")).to.deep.equal([]);
  });

  it("without an endpoint, a DEL for net1 releases net1's address alone, even in an unlabelled pool", async () => {
    const s1 = sandboxDigest("s1");
    const both = { prefixes: ["t/"], ips: ["10.0.0.10-10.0.0.11"], holders: ["0:a", "0:a"], sandboxes: [s1, `${s1}@net1`] };
    const c = fakeCluster({ pods: [pod("a")], pools: [pool("p", 0, both)] });
    await c.ipam.del(cni("DEL", "a", "s1", "net1"));
    expect(held(c.pools, "p", ["s1"])).to.deep.equal(["10.0.0.10 t/a eth0 s1"]);
    await c.ipam.del(cni("DEL", "a", "s1", "eth0"));
    expect(held(c.pools, "p")).to.deep.equal([]);
  });

  it("releases an address an older agent recorded no sandbox for, with the endpoint (its interface's pool) or without (eth0)", async () => {
    const legacy = { prefixes: ["t/"], ips: ["10.0.0.10-10.0.0.11"], holders: ["0:a", "0:other"] };
    const endpoint: SpiderEndpoint = {
      apiVersion: "spiderpool.spidernet.io/v2beta1",
      kind: "SpiderEndpoint",
      metadata: { name: "a", namespace: "t" },
      status: { current: { uid: "uid-a", node: "node1", ips: [{ interface: "eth0", ipv4: "10.0.0.10/24", ipv4Pool: "p" }] } }, // nor a containerID
    };
    for (const endpoints of [[endpoint], []]) {
      const c = fakeCluster({ pods: [pod("a")], pools: [pool("p", 0, legacy)], endpoints });
      await c.ipam.del(cni("DEL", "a", "any-sandbox"));
      expect(held(c.pools, "p"), `${endpoints.length} endpoints`).to.deep.equal(["10.0.0.11 t/other unrecorded"]);
    }
  });

  it("a new sandbox takes over an address an older agent recorded no sandbox for, so the old sandbox's late DEL keeps it", async () => {
    const legacy = { prefixes: ["t/"], ips: ["10.0.0.10"], holders: ["0:a"] };
    const c = fakeCluster({ pods: [pod("a")], pools: [pool("p", 0, legacy)] });
    expect(await addressOf(c.ipam.add(cni("ADD", "a", "sandbox-B")))).to.equal("10.0.0.10/24");
    await c.ipam.endpoints.drain();
    await c.ipam.del(cni("DEL", "a", "sandbox-A"));
    expect(held(c.pools, "p", ["sandbox-B"])).to.deep.equal(["10.0.0.10 t/a eth0 sandbox-B"]);
  });

  describe("malformed holder fields never wedge a DEL", () => {
    const cases: Array<{ what: string; allocations: AllocationsStatus; field: string }> = [
      { what: "a holder that is not a string", allocations: { prefixes: ["t/"], ips: ["10.0.1.10-10.0.1.11"], holders: ["0:a", ["0:a"] as unknown as string] }, field: 'SpiderIPPool "broken" status.allocations.holders[1] ["0:a"]' },
      { what: "a prefix that is not a string", allocations: { prefixes: ["t/", 7 as unknown as string], ips: ["10.0.1.10-10.0.1.11"], holders: ["0:a", "1:a"] }, field: 'SpiderIPPool "broken" status.allocations.holders[1] "1:a"' },
      { what: "a sandbox it cannot read", allocations: { prefixes: ["t/"], ips: ["10.0.1.10"], holders: ["0:a"], sandboxes: ["not a digest"] }, field: 'SpiderIPPool "broken" status.allocations.sandboxes[0] "not a digest"' },
    ];
    for (const { what, allocations, field } of cases) {
      it(`${what}: the DEL resolves, releases the other pools, leaves that one as it is and logs the field and value`, async () => {
        const fine = { prefixes: ["t/"], ips: ["10.0.0.10"], holders: ["0:a"] };
        const c = fakeCluster({ pods: [pod("a")], pools: [pool("broken", 1, allocations), pool("p", 0, fine)] });
        const before = structuredClone(c.pools.get("broken"));
        await c.ipam.del(cni("DEL", "a", "s1"));
        expect(held(c.pools, "p")).to.deep.equal([]);
        expect(c.pools.get("broken")).to.deep.equal(before);
        expect(c.log.some((m) => m.includes(`invalid ${field}`)), c.log.join("\n")).to.equal(true);
      });
    }
  });
});
