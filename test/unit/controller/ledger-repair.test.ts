import { expect } from "chai";
import { RELEASE_FINALIZER, type SpiderIPPool, type SpiderSubnet } from "../../../src/api/types.js";
import { addClusterPools, addClusterSubnets, addSubnetPools, planRepair } from "../../../src/controller/ledger-repair.js";
import { decideSubnetDeletion } from "../../../src/controller/subnet-deletion.js";
import { parseCidr } from "../../../src/ip/cidr.js";
import { parseIPList } from "../../../src/ip/ip-list.js";
import { ClusterLedger } from "../../../src/reservation/ledger.js";
import { SubnetLedger } from "../../../src/reservation/subnet-ledger.js";
import { findConflicts } from "../../../src/reservation/conflicts.js";

const ips = (list: string[]) => parseIPList(4, list, "ips");
const pool = (name: string, subnet: string, list: string[], deleting = false): SpiderIPPool => ({
  apiVersion: "spiderpool.spidernet.io/v2beta1",
  kind: "SpiderIPPool",
  metadata: { name, finalizers: [RELEASE_FINALIZER], ...(deleting ? { deletionTimestamp: "2026-11-28T10:00:00Z" } : {}) },
  spec: { subnet, ips: list },
});
const subnet = (name: string, cidr: string, list: string[], deleting = false): SpiderSubnet => ({
  apiVersion: "spiderpool.spidernet.io/v2beta1",
  kind: "SpiderSubnet",
  metadata: { name, finalizers: [RELEASE_FINALIZER], ...(deleting ? { deletionTimestamp: "2026-11-28T10:00:00Z" } : {}) },
  spec: { subnet: cidr, ips: list },
});

describe("controller/ledger-repair", () => {
  const s = subnet("s", "10.1.0.0/16", ["10.1.0.1-10.1.0.100"]);

  it("puts each stored object in its ledger: pools of a subnet's CIDR in its ledger, others and subnets in the cluster ledger; deleting objects left to their finalizer", () => {
    const plan = planRepair([pool("in", "10.1.0.0/16", ["10.1.0.5"]), pool("out", "10.9.0.0/24", ["10.9.0.5"]), pool("going", "10.1.0.0/16", ["10.1.0.6"], true)], [s], ClusterLedger.empty());
    expect(plan.clusterSubnets.map((w) => w.name)).to.deep.equal(["s"]);
    expect(plan.clusterPools.map((w) => w.name)).to.deep.equal(["out"]);
    expect([...plan.subnetPools].map(([k, v]) => [k, v.map((w) => w.name)])).to.deep.equal([["s", ["in"]]]);
    // A pool made before its subnet stays in the cluster ledger, and is claimed in the subnet's too (auto pools must not take it).
    const early = ClusterLedger.empty().with("pools", "in", { cidr: parseCidr("10.1.0.0/16"), addresses: ips(["10.1.0.5"]) });
    const both = planRepair([pool("in", "10.1.0.0/16", ["10.1.0.5"])], [s], early);
    expect(both.clusterPools.map((w) => w.name)).to.deep.equal(["in"]);
    expect(both.subnetPools.get("s")?.map((w) => w.name)).to.deep.equal(["in"]);
    // Only what lies in the subnet's spec.ips goes into its ledger; a deleting subnet still maps its pools.
    const wide = planRepair([pool("wide", "10.1.0.0/16", ["10.1.0.99-10.1.0.102"])], [subnet("s", "10.1.0.0/16", ["10.1.0.1-10.1.0.100"], true)], ClusterLedger.empty());
    expect(wide.clusterSubnets).to.deep.equal([]);
    expect(wide.clusterPools).to.deep.equal([]);
    expect(wide.subnetPools.get("s")?.map((w) => w.addresses.toString())).to.deep.equal(["10.1.0.99-10.1.0.100"]);
  });

  it("rebuilds a wiped subnet ledger from its stored pools, bumping each claim's revision", () => {
    const plan = planRepair([pool("a", "10.1.0.0/16", ["10.1.0.1-10.1.0.4"]), pool("b", "10.1.0.0/16", ["10.1.0.10"])], [s], ClusterLedger.empty());
    const out = addSubnetPools(SubnetLedger.of(4, []), plan.subnetPools.get("s") ?? []);
    expect(out.added.map((a) => [a.name, a.missing.toString()])).to.deep.equal([["a", "10.1.0.1-10.1.0.4"], ["b", "10.1.0.10"]]);
    expect(out.ledger.pools.get("a")?.rev).to.equal(1);
    expect(addSubnetPools(out.ledger, plan.subnetPools.get("s") ?? []).added).to.deep.equal([]);
  });

  it("adds only the missing part of a claim, and nothing that another entry holds (that is a conflict to show, not to resolve), the unshared rest still claimed", () => {
    const ledger = SubnetLedger.of(4, [["a", { addresses: ips(["10.1.0.1-10.1.0.2"]), application: "apps_v1_Deployment_d_a" }], ["other", { addresses: ips(["10.1.0.9"]) }]]);
    const grown = addSubnetPools(ledger, [{ name: "a", cidr: parseCidr("10.1.0.0/16"), addresses: ips(["10.1.0.1-10.1.0.4"]) }]);
    expect(grown.ledger.pools.get("a")).to.deep.include({ application: "apps_v1_Deployment_d_a", rev: 1 });
    expect(grown.ledger.pools.get("a")?.addresses.toString()).to.equal("10.1.0.1-10.1.0.4");
    const clash = addSubnetPools(ledger, [{ name: "evil", cidr: parseCidr("10.1.0.0/16"), addresses: ips(["10.1.0.8-10.1.0.9"]) }]);
    expect(clash.added.map((a) => [a.name, a.missing.toString()])).to.deep.equal([["evil", "10.1.0.8"]]);
    expect(clash.ledger.pools.get("other")?.addresses.toString()).to.equal("10.1.0.9");
    const shared = addSubnetPools(ledger, [{ name: "twin", cidr: parseCidr("10.1.0.0/16"), addresses: ips(["10.1.0.9"]) }]);
    expect(shared.added).to.deep.equal([]);
    expect(shared.ledger).to.equal(ledger);
  });

  it("adds missing pools and subnets to the cluster ledger unless they collide", () => {
    const cluster = ClusterLedger.empty().with("subnets", "s", { cidr: parseCidr("10.1.0.0/16"), addresses: ips(["10.1.0.1-10.1.0.100"]) });
    const subnets = addClusterSubnets(cluster, [
      { name: "s2", cidr: parseCidr("10.2.0.0/16"), addresses: ips(["10.2.0.1"]) },
      { name: "inner", cidr: parseCidr("10.1.128.0/17"), addresses: ips(["10.1.128.1"]) },
    ]);
    expect(subnets.added.map((a) => a.name)).to.deep.equal(["s2"]);
    const pools = addClusterPools(subnets.ledger, [
      { name: "p", cidr: parseCidr("10.9.0.0/24"), addresses: ips(["10.9.0.1-10.9.0.5"]) },
      { name: "q", cidr: parseCidr("10.9.0.0/24"), addresses: ips(["10.9.0.5-10.9.0.6"]) },
    ]);
    expect(pools.added.map((a) => [a.name, a.missing.toString()])).to.deep.equal([["p", "10.9.0.1-10.9.0.5"], ["q", "10.9.0.6"]]);
  });
});

describe("reservation/findConflicts", () => {
  it("finds each pair of objects sharing addresses once, with exactly the shared range, per family", () => {
    const out = findConflicts([
      { name: "b", addresses: ips(["10.0.0.5-10.0.0.20"]) },
      { name: "a", addresses: ips(["10.0.0.1-10.0.0.10"]) },
      { name: "c", addresses: ips(["10.0.1.1"]) },
      { name: "v6", addresses: parseIPList(6, ["fd00::1-fd00::9"], "ips") },
      { name: "v6b", addresses: parseIPList(6, ["fd00::9"], "ips") },
    ]);
    expect(out.map((c) => [c.a, c.b, c.shared.toString()])).to.deep.equal([
      ["a", "b", "10.0.0.5-10.0.0.10"],
      ["v6", "v6b", "fd00::9"],
    ]);
    expect(findConflicts([{ name: "a", addresses: ips(["10.0.0.1"]) }, { name: "b", addresses: ips(["10.0.0.2"]) }])).to.deep.equal([]);
  });
});

describe("controller/subnet-deletion", () => {
  it("waits while stored pools lie in the subnet, naming them; then releases", () => {
    const going = subnet("s", "10.1.0.0/16", ["10.1.0.1-10.1.0.100"], true);
    expect(decideSubnetDeletion(going, [pool("a", "10.1.0.0/16", ["10.1.0.1"]), pool("x", "10.9.0.0/24", ["10.9.0.1"])], [])).to.deep.equal({
      kind: "wait",
      message: 'waiting for 1 SpiderIPPools in this subnet to be deleted ("a"); the subnet is deleted when they are gone',
    });
    expect(decideSubnetDeletion(going, [pool("x", "10.9.0.0/24", ["10.9.0.1"])], [])).to.deep.equal({ kind: "release" });
    expect(decideSubnetDeletion(subnet("s", "10.1.0.0/16", []), [], [])).to.deep.equal({ kind: "none" });
    // A claim in its ledger for a pool not stored (yet): an admission in flight keeps it too.
    expect(decideSubnetDeletion(going, [], ["in-flight"])).to.deep.include({ kind: "wait" });
  });
});
