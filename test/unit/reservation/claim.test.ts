import { expect } from "chai";
import { parseAddressSpec } from "../../../src/api/address-spec.js";
import { autoPoolName } from "../../../src/api/names.js";
import { parseIPList } from "../../../src/ip/ip-list.js";
import { RangeSet } from "../../../src/ip/range-set.js";
import { decideClaim } from "../../../src/reservation/claim.js";
import { SubnetLedger } from "../../../src/reservation/subnet-ledger.js";
import { defaultIPNumber, planReservation } from "../../../src/reservation/plan.js";

const nginx = { namespace: "default", kind: "Deployment" as const, name: "nginx" };
const plan = (size: number, subnet = "nginx-subnet-v4") => ({ name: autoPoolName(nginx, "eth0", 4, subnet), interface: "eth0", family: 4 as const, subnet, size });
const view = (spec: Parameters<typeof parseAddressSpec>[0], pools: Record<string, string[]> = {}) => {
  const parsed = parseAddressSpec(spec);
  return { name: "nginx-subnet-v4", spec: parsed, ledger: SubnetLedger.of(4, new Map(Object.entries(pools).map(([k, v]) => [k, { addresses: parseIPList(4, v, "ips") }]))) };
};
const none = RangeSet.empty(4);

describe("reservation/decideClaim", () => {
  it("gives a new auto pool the subnet's lowest free addresses", () => {
    const out = decideClaim(nginx, plan(5), "replicas 2 + 3", view({ subnet: "10.244.0.0/16", ips: ["10.244.100.90-10.244.200.91"] }), { reserved: none });
    expect(out.addresses?.toStrings()).to.deep.equal(["10.244.100.90-10.244.100.94"]);
    expect(out.write?.pools.get(plan(5).name)?.application).to.equal("apps_v1_Deployment_default_nginx");
  });

  it("skips addresses other pools hold, the gateway and reserved IPs", () => {
    const subnet = view({ subnet: "10.0.0.0/24", ips: ["10.0.0.1-10.0.0.20"], gateway: "10.0.0.254" }, { other: ["10.0.0.2-10.0.0.3"] });
    const out = decideClaim(nginx, plan(4), "replicas 1 + 3", subnet, { reserved: parseIPList(4, ["10.0.0.5"], "reserved") });
    expect(out.addresses?.toStrings()).to.deep.equal(["10.0.0.1", "10.0.0.4", "10.0.0.6-10.0.0.7"]);
    const withGatewayInside = view({ subnet: "10.0.0.0/24", ips: ["10.0.0.1-10.0.0.20"], excludeIPs: ["10.0.0.1"], gateway: "10.0.0.1" });
    expect(decideClaim(nginx, plan(2), "replicas 1 + 1", withGatewayInside, { reserved: none }).addresses?.toString()).to.equal("10.0.0.2-10.0.0.3");
  });

  it("grows an existing claim and keeps its addresses", () => {
    const subnet = view({ subnet: "10.0.0.0/24", ips: ["10.0.0.1-10.0.0.20"] }, { [plan(5).name]: ["10.0.0.1-10.0.0.5"], other: ["10.0.0.6"] });
    expect(decideClaim(nginx, plan(6), "replicas 3 + 3", subnet, { reserved: none }).addresses?.toString()).to.equal("10.0.0.1-10.0.0.5,10.0.0.7");
    expect(decideClaim(nginx, plan(4), "replicas 1 + 3", subnet, { reserved: none })).to.deep.include({ verdict: { allowed: true } });
  });

  it("writes nothing when the stored pool already has its claim, and re-asserts (revision bumped) a claim the pool is growing into", () => {
    const name = plan(5).name;
    const subnet = view({ subnet: "10.0.0.0/24", ips: ["10.0.0.1-10.0.0.20"] }, { [name]: ["10.0.0.1-10.0.0.5"] });
    const stored = parseIPList(4, ["10.0.0.1-10.0.0.5"], "ips");
    const quiet = decideClaim(nginx, plan(5), "replicas 2 + 3", subnet, { reserved: none, stored });
    expect(quiet.write).to.equal(undefined);
    expect(quiet.addresses?.toString()).to.equal("10.0.0.1-10.0.0.5");
    // A shrink dropped 10.0.0.3-10.0.0.5 from the pool but has not released them yet: this grow must write.
    const grow = decideClaim(nginx, plan(5), "replicas 2 + 3", subnet, { reserved: none, stored: parseIPList(4, ["10.0.0.1-10.0.0.2"], "ips") });
    expect(grow.write?.pools.get(name)?.addresses.toString()).to.equal("10.0.0.1-10.0.0.5");
    expect(grow.write?.pools.get(name)?.rev).to.equal(1);
    const again = decideClaim(nginx, plan(6), "replicas 3 + 3", { ...subnet, ledger: grow.write as SubnetLedger }, { reserved: none, stored });
    expect(again.write?.pools.get(name)?.rev).to.equal(2);
  });

  it("denies when the subnet is too small, with the counts", () => {
    const subnet = view({ subnet: "10.0.0.0/24", ips: ["10.0.0.1-10.0.0.5"] }, { other: ["10.0.0.1-10.0.0.2"] });
    expect(decideClaim(nginx, plan(5), "replicas 2 + 3", subnet, { reserved: none }).verdict).to.deep.equal({
      allowed: false,
      code: 403,
      message: 'SpiderSubnet "nginx-subnet-v4" has 3 free addresses; deployment "nginx" needs 5 (replicas 2 + 3)',
    });
    const mine = view({ subnet: "10.0.0.0/24", ips: ["10.0.0.1-10.0.0.5"] }, { [plan(5).name]: ["10.0.0.1-10.0.0.4"] });
    expect(decideClaim(nginx, plan(7), "replicas 4 + 3", mine, { reserved: none }).verdict).to.deep.include({
      message: `SpiderSubnet "nginx-subnet-v4" has 1 free addresses; deployment "nginx" needs 3 more (replicas 4 + 3 = 7; pool "${plan(5).name}" holds 4)`,
    });
  });

  it("denies a missing subnet and a subnet of the other family", () => {
    expect(decideClaim(nginx, plan(5, "nope"), "replicas 2 + 3", undefined, { reserved: none }).verdict).to.deep.equal({
      allowed: false,
      code: 404,
      message: 'SpiderSubnet "nope" (asked for IPv4 on eth0 of deployment "nginx") does not exist',
    });
    const v6 = { ...view({ subnet: "10.0.0.0/24" }), spec: parseAddressSpec({ subnet: "fd00::/64" }) };
    expect(decideClaim(nginx, plan(5), "replicas 2 + 3", v6, { reserved: none }).verdict).to.deep.include({
      message: 'SpiderSubnet "nginx-subnet-v4" is IPv6 (spec.subnet fd00::/64), but deployment "nginx" names it under ipv4; list it under ipv6',
    });
  });
});

describe("reservation/plan", () => {
  it("defaults N to +1 for every kind, as Spiderpool does (a rollout's surge pods wait at the agent for stopping pods' addresses)", () => {
    expect(defaultIPNumber()).to.deep.equal({ flexible: true, count: 1 });
    const nginxSpec = { replicas: 10, template: { metadata: { annotations: { "ipam.spidernet.io/subnet": '{"ipv4":["s"]}' } } } };
    expect(planReservation(nginx, nginxSpec.template.metadata.annotations, nginxSpec)?.pools[0]?.size).to.equal(11);
  });

  it("names pools deterministically, within 63 characters, apart across namespaces and interfaces", () => {
    const long = { namespace: "team-a", kind: "StatefulSet" as const, name: "a".repeat(70) };
    const name = autoPoolName(long, "net1", 6, "s6");
    expect(name).to.match(/^auto6-a+-net1-[0-9a-f]{10}$/);
    expect(name.length).to.be.at.most(63);
    expect(autoPoolName(nginx, "eth0", 4, "s")).to.equal(autoPoolName({ ...nginx }, "eth0", 4, "s"));
    expect(autoPoolName(nginx, "eth0", 4, "s")).to.not.equal(autoPoolName({ ...nginx, namespace: "other" }, "eth0", 4, "s"));
    // Interfaces that read alike, and a subnet switch, get pools of their own.
    expect(new Set(["net_1", "net.1", "NET1", "net-1"].map((nic) => autoPoolName(nginx, nic, 4, "s"))).size).to.equal(4);
    expect(autoPoolName(nginx, "eth0", 4, "s")).to.not.equal(autoPoolName(nginx, "eth0", 4, "t"));
  });

  it("plans one pool per interface and family with the subnets annotation", () => {
    const p = planReservation(nginx, { "ipam.spidernet.io/subnets": '[{"interface":"eth0","ipv4":["v4"],"ipv6":["v6"]},{"interface":"net1","ipv4":["n4"]}]', "ipam.spidernet.io/ippool-ip-number": "4" }, { replicas: 9 });
    expect(p?.pools.map((x) => [x.interface, x.family, x.subnet, x.size])).to.deep.equal([["eth0", 4, "v4", 4], ["eth0", 6, "v6", 4], ["net1", 4, "n4", 4]]);
    expect(JSON.parse(p?.annotation ?? "")).to.have.length(2);
  });
});
