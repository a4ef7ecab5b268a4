import { expect } from "chai";
import type * as k8s from "@kubernetes/client-node";
import type { SpiderIPPool } from "../../../src/api/types.js";
import { parseAddress } from "../../../src/ip/address.js";
import { AllocationRecord } from "../../../src/ip/allocation-record.js";
import { interfaceOf, missingEndpoints } from "../../../src/controller/endpoint-restore.js";

const pool = (name: string, subnet: string, held: Record<string, string>, gateway?: string): SpiderIPPool => {
  const family = subnet.includes(":") ? 6 : 4;
  const record = AllocationRecord.decode(family, undefined);
  for (const [ip, holder] of Object.entries(held)) record.allocate(parseAddress(ip).value, holder);
  return { apiVersion: "spiderpool.spidernet.io/v2beta1", kind: "SpiderIPPool", metadata: { name }, spec: { subnet, ips: [], ...(gateway ? { gateway } : {}) }, status: { allocations: record.encode() } };
};
const pod = (namespace: string, name: string, o: { node?: string; deleting?: boolean; annotations?: Record<string, string> } = {}): [string, k8s.V1Pod] => [
  `${namespace}/${name}`,
  {
    metadata: { namespace, name, uid: `uid-${name}`, ...(o.annotations ? { annotations: o.annotations } : {}), ...(o.deleting ? { deletionTimestamp: new Date() } : {}) },
    spec: { containers: [], ...(o.node === undefined ? { nodeName: "n1" } : o.node ? { nodeName: o.node } : {}) },
  },
];

describe("controller/missingEndpoints (restoring what an agent lost between claim and endpoint)", () => {
  it("rebuilds the endpoint of a scheduled pod that holds addresses and has none, both families on one interface", () => {
    const s = {
      pools: [pool("p4", "10.0.0.0/24", { "10.0.0.7": "ns/a" }, "10.0.0.1"), pool("p6", "fd00::/64", { "fd00::7": "ns/a" })],
      endpoints: new Set<string>(),
      pods: new Map([pod("ns", "a")]),
    };
    expect(missingEndpoints(s)).to.deep.equal([
      {
        apiVersion: "spiderpool.spidernet.io/v2beta1",
        kind: "SpiderEndpoint",
        metadata: { name: "a", namespace: "ns" },
        status: { current: { uid: "uid-a", node: "n1", ips: [{ interface: "eth0", ipv4: "10.0.0.7/24", ipv4Pool: "p4", ipv4Gateway: "10.0.0.1", ipv6: "fd00::7/64", ipv6Pool: "p6" }] } },
      },
    ]);
  });

  it("restores nothing for a pod with an endpoint, a pod that is gone, deleting or unscheduled", () => {
    const s = {
      pools: [pool("p", "10.0.0.0/24", { "10.0.0.2": "ns/has", "10.0.0.3": "ns/gone", "10.0.0.4": "ns/deleting", "10.0.0.5": "ns/pending" })],
      endpoints: new Set(["ns/has"]),
      pods: new Map([pod("ns", "has"), pod("ns", "deleting", { deleting: true }), pod("ns", "pending", { node: "" })]),
    };
    expect(missingEndpoints(s)).to.deep.equal([]);
  });

  it("names a StatefulSet ordinal's owner, and puts each pool on the interface the annotations give it", () => {
    const annotations = { "pinpool.io/reserved-ippools": '[{"interface":"eth0","ipv4":["p"]},{"interface":"net1","ipv4":["q"]}]' };
    const s = {
      pools: [pool("p", "10.0.0.0/24", { "10.0.0.2": "ns/web/0" }), pool("q", "10.1.0.0/24", { "10.1.0.2": "ns/web/0" })],
      endpoints: new Set<string>(),
      pods: new Map([pod("ns", "web-0", { annotations })]),
    };
    const [ep] = missingEndpoints(s);
    expect(ep?.status).to.deep.include({ ownerControllerType: "StatefulSet", ownerControllerName: "web" });
    expect(ep?.status?.current?.ips.map((i) => [i.interface, i.ipv4])).to.deep.equal([
      ["eth0", "10.0.0.2/24"],
      ["net1", "10.1.0.2/24"],
    ]);
  });

  it("puts each address on the interface the pool's record names: eth0 and net1 of one pool, whatever the annotations say", () => {
    const record = AllocationRecord.decode(4, undefined);
    record.allocate(parseAddress("10.0.0.2").value, "ns/a", { interface: "eth0", sandbox: "AAAAAA" });
    record.allocate(parseAddress("10.0.0.3").value, "ns/a", { interface: "net1", sandbox: "AAAAAA" });
    const p: SpiderIPPool = { apiVersion: "spiderpool.spidernet.io/v2beta1", kind: "SpiderIPPool", metadata: { name: "p" }, spec: { subnet: "10.0.0.0/24", ips: [] }, status: { allocations: record.encode() } };
    const [ep] = missingEndpoints({ pools: [p], endpoints: new Set<string>(), pods: new Map([pod("ns", "a", { annotations: { "ipam.spidernet.io/ippool": '{"ipv4":["p"]}' } })]) });
    expect(ep?.status?.current?.ips.map((i) => [i.interface, i.ipv4, i.ipv4Pool])).to.deep.equal([
      ["eth0", "10.0.0.2/24", "p"],
      ["net1", "10.0.0.3/24", "p"],
    ]);
  });
});

describe("controller/interfaceOf", () => {
  it("reads the interface from reserved-ippools or ippools (the Nth entry without one is the Nth NIC); eth0 otherwise", () => {
    expect(interfaceOf({ "ipam.spidernet.io/ippools": '[{"ipv4":["a"]},{"ipv4":["b"]}]' }, "b")).to.equal("net1");
    expect(interfaceOf({ "ipam.spidernet.io/ippools": '[{"interface":"net3","ipv6":["b"]}]' }, "b")).to.equal("net3");
    expect(interfaceOf({ "ipam.spidernet.io/ippool": '{"ipv4":["b"]}' }, "b")).to.equal("eth0");
    expect(interfaceOf({ "ipam.spidernet.io/ippools": "{not json" }, "b")).to.equal("eth0");
  });
});
