import { expect } from "chai";
import { parseAddressSpec } from "../../../src/api/address-spec.js";
import { RELEASE_FINALIZER } from "../../../src/api/types.js";
import { parseCidr } from "../../../src/ip/cidr.js";
import { parseIPList } from "../../../src/ip/ip-list.js";
import { ClusterLedger } from "../../../src/reservation/ledger.js";
import { SubnetLedger } from "../../../src/reservation/subnet-ledger.js";
import type { AdmissionRequest } from "../../../src/webhook/admission.js";
import { type PreparedPool, decidePoolInCluster, decidePoolInSubnet, preparePool } from "../../../src/webhook/validate-pool.js";
import { decideSubnet, decideSubnetWithoutLedger } from "../../../src/webhook/validate-subnet.js";
import { loadRequest } from "../../fixtures/load.js";

const seedSubnet = parseAddressSpec({ subnet: "10.244.0.0/16", ips: ["10.244.100.90-10.244.200.91"] });
const claim = (ips: string[]): { addresses: ReturnType<typeof parseIPList> } => ({ addresses: parseIPList(4, ips, "ips") });

function prepared(req: AdmissionRequest): PreparedPool {
  const p = preparePool(req);
  if ("verdict" in p) throw new Error(`expected a prepared pool, got ${JSON.stringify(p.verdict)}`);
  return p.pool;
}

/** The captured pool CREATE with other ips. */
const poolCreate = (ips: string[], subnet = "10.244.0.0/16"): AdmissionRequest =>
  loadRequest("spiderippool-create", (r) => {
    const spec = (r.object as { spec: { ips: string[]; subnet: string } }).spec;
    spec.ips = ips;
    spec.subnet = subnet;
  });

describe("webhook/validate SpiderIPPool", () => {
  const ledger = SubnetLedger.of(4, new Map([["nginx-v4-ippool", claim(["10.244.120.10-10.244.120.20"])]]));

  it("routes a pool with a subnet's exact CIDR to that subnet", () => {
    const cluster = ClusterLedger.empty().with("subnets", "nginx-subnet-v4", { cidr: seedSubnet.cidr, addresses: seedSubnet.addresses });
    expect(decidePoolInCluster(prepared(poolCreate(["10.244.130.10"])), cluster)).to.deep.include({ subnet: "nginx-subnet-v4" });
  });

  it("claims a disjoint pool in the subnet's ledger", () => {
    const out = decidePoolInSubnet(prepared(poolCreate(["10.244.130.10-10.244.130.20"])), "nginx-subnet-v4", seedSubnet, ledger);
    expect(out.verdict.allowed).to.equal(true);
    expect(out.write?.pools.get("capture-pool")?.addresses.toStrings()).to.deep.equal(["10.244.130.10-10.244.130.20"]);
  });

  it("denies an overlapping pool, naming it and the overlapping range", () => {
    const out = decidePoolInSubnet(prepared(poolCreate(["10.244.120.18-10.244.120.30"])), "nginx-subnet-v4", seedSubnet, ledger);
    expect(out).to.deep.equal({
      verdict: { allowed: false, code: 403, message: 'SpiderIPPool "capture-pool" overlaps SpiderIPPool "nginx-v4-ippool" at 10.244.120.18-10.244.120.20' },
    });
  });

  it("denies addresses the subnet does not have", () => {
    const out = decidePoolInSubnet(prepared(poolCreate(["10.244.1.1-10.244.1.2"])), "nginx-subnet-v4", seedSubnet, ledger);
    expect(out.verdict).to.deep.include({
      message: 'SpiderIPPool "capture-pool": 10.244.1.1-10.244.1.2 not in SpiderSubnet "nginx-subnet-v4" (its spec.ips less spec.excludeIPs); a pool in a subnet uses only the subnet\'s addresses',
    });
  });

  it("re-asserts a claim the ledger already holds on CREATE (so a trim decided on it stands back), and writes nothing on an UPDATE that adds nothing", () => {
    const mine = ledger.with("capture-pool", claim(["10.244.130.10-10.244.130.30"]));
    const created = decidePoolInSubnet(prepared(poolCreate(["10.244.130.10-10.244.130.20"])), "nginx-subnet-v4", seedSubnet, mine);
    expect(created.write?.pools.get("capture-pool")?.addresses.toString()).to.equal("10.244.130.10-10.244.130.30");
    expect(created.write?.pools.get("capture-pool")?.rev).to.equal(1);
    const relabel = loadRequest("spiderippool-update", (r) => {
      (r.object as { spec: object }).spec = structuredClone((r.oldObject as { spec: object }).spec);
    });
    const held = ledger.with("capture-pool", claim(parseAddressSpec((relabel.oldObject as { spec: { subnet: string; ips: string[] } }).spec).addresses.toStrings()));
    expect(decidePoolInSubnet(prepared(relabel), "nginx-subnet-v4", seedSubnet, held)).to.deep.equal({ verdict: { allowed: true } });
    const grown = loadRequest("spiderippool-update", (r) => (r.object as { spec: { ips: string[] } }).spec.ips.push("10.244.130.99"));
    const wide = ledger.with("capture-pool", claim(["10.244.130.0-10.244.130.255"]));
    expect(decidePoolInSubnet(prepared(grown), "nginx-subnet-v4", seedSubnet, wide).write?.pools.get("capture-pool")?.rev).to.equal(1);
  });

  it("writes nothing for pinpool's own pool write that its claim covers (it claimed first), and claims what the claim lacks", () => {
    const mine = ledger.with("capture-pool", claim(["10.244.130.10-10.244.130.30"]));
    const own = { claimedByWriter: true };
    expect(decidePoolInSubnet(prepared(poolCreate(["10.244.130.10-10.244.130.20"])), "nginx-subnet-v4", seedSubnet, mine, own)).to.deep.equal({ verdict: { allowed: true } });
    const beyond = decidePoolInSubnet(prepared(poolCreate(["10.244.130.10-10.244.130.40"])), "nginx-subnet-v4", seedSubnet, mine, own);
    expect(beyond.write?.pools.get("capture-pool")?.addresses.toString()).to.equal("10.244.130.10-10.244.130.40");
  });

  it("denies a pool outside any subnet that overlaps another, or whose CIDR overlaps a different CIDR", () => {
    const cluster = ClusterLedger.empty()
      .with("pools", "a", { cidr: parseCidr("10.9.0.0/24"), addresses: parseIPList(4, ["10.9.0.10-10.9.0.20"], "ips") })
      .with("subnets", "s", { cidr: parseCidr("10.8.0.0/16"), addresses: parseIPList(4, ["10.8.0.1"], "ips") });
    expect(decidePoolInCluster(prepared(poolCreate(["10.9.0.20-10.9.0.25"], "10.9.0.0/24")), cluster).verdict).to.deep.include({
      message: 'SpiderIPPool "capture-pool" overlaps SpiderIPPool "a" at 10.9.0.20',
    });
    expect(decidePoolInCluster(prepared(poolCreate(["10.9.0.130"], "10.9.0.128/25")), cluster).verdict).to.deep.include({
      message: 'SpiderIPPool "capture-pool": spec.subnet 10.9.0.128/25 overlaps SpiderIPPool "a" whose spec.subnet is 10.9.0.0/24; pools that overlap must share one spec.subnet',
    });
    expect(decidePoolInCluster(prepared(poolCreate(["10.8.1.1"], "10.8.1.0/24")), cluster).verdict).to.deep.include({
      message: 'SpiderIPPool "capture-pool": spec.subnet 10.8.1.0/24 overlaps SpiderSubnet "s" (10.8.0.0/16); a pool in that subnet must use spec.subnet 10.8.0.0/16',
    });
    const ok = decidePoolInCluster(prepared(poolCreate(["10.9.0.21-10.9.0.25"], "10.9.0.0/24")), cluster);
    expect(ok.write?.pools.get("capture-pool")?.addresses.toString()).to.equal("10.9.0.21-10.9.0.25");
  });

  it("refuses an update that drops an allocated address, naming its holder", () => {
    const req = loadRequest("spiderippool-update", (r) => {
      (r.oldObject as { status: unknown }).status = { allocations: { prefixes: ["default/nginx-644659db67-"], ips: ["10.244.130.12"], holders: ["0:6lsmm"] } };
      (r.object as { spec: { ips: string[] } }).spec.ips = ["10.244.130.13-10.244.130.25"];
    });
    expect(preparePool(req)).to.deep.equal({
      verdict: {
        allowed: false,
        code: 403,
        message: 'SpiderIPPool "capture-pool": the update would remove 10.244.130.12, in use (10.244.130.12 by "default/nginx-644659db67-6lsmm"); a pool\'s addresses are spec.ips less spec.excludeIPs',
      },
    });
  });

  it("without pinpool's finalizer, refuses to delete a pool whose addresses pods hold; admits an empty one, releasing nothing (the controller does)", () => {
    const busy = loadRequest("spiderippool-delete", (r) => {
      (r.oldObject as { status: unknown }).status = { allocations: { prefixes: ["default/web/"], ips: ["10.244.130.10-10.244.130.11"], holders: ["0:0", "0:1"] } };
    });
    expect(preparePool(busy)).to.deep.equal({
      verdict: { allowed: false, code: 403, message: 'SpiderIPPool "capture-pool" still has 2 allocated addresses (held by "default/web/0", "default/web/1"); delete those pods or workloads first' },
    });
    // A verdict, not a prepared pool: nothing goes near a ledger.
    expect(preparePool(loadRequest("spiderippool-delete"))).to.deep.equal({ verdict: { allowed: true } });
  });

  it("with pinpool's finalizer, admits a DELETE at once and leaves the release to the controller", () => {
    const busy = loadRequest("spiderippool-delete", (r) => {
      const old = r.oldObject as { metadata: { finalizers?: string[] }; status: unknown };
      old.metadata.finalizers = [RELEASE_FINALIZER];
      old.status = { allocations: { prefixes: ["default/web/"], ips: ["10.244.130.10"], holders: ["0:0"] } };
    });
    expect(preparePool(busy)).to.deep.equal({ verdict: { allowed: true } });
  });

  it("on a pool being deleted, admits the finalizer's removal without a claim and refuses spec changes", () => {
    const deleting = (edit: (spec: { ips: string[] }) => void): AdmissionRequest =>
      loadRequest("spiderippool-update", (r) => {
        (r.object as { metadata: Record<string, unknown> }).metadata.deletionTimestamp = "2026-11-26T12:00:00Z";
        (r.object as { spec: { ips: string[] } }).spec = structuredClone((r.oldObject as { spec: { ips: string[] } }).spec);
        edit((r.object as { spec: { ips: string[] } }).spec);
      });
    expect(preparePool(deleting(() => undefined))).to.deep.equal({ verdict: { allowed: true } });
    expect(preparePool(deleting((spec) => spec.ips.push("10.244.130.99")))).to.deep.equal({
      verdict: { allowed: false, code: 403, message: 'SpiderIPPool "capture-pool" is being deleted; its spec can no longer change (changed: spec.ips); only metadata (labels, finalizers) may be updated until it is gone' },
    });
  });

  it("names spec errors: CIDR typo, gateway in ips, a route off the subnet", () => {
    const edit = (spec: Record<string, unknown>): AdmissionRequest =>
      loadRequest("spiderippool-create", (r) => Object.assign((r.object as { spec: object }).spec, spec));
    expect(preparePool(edit({ subnet: "10.244.0.1/16" }))).to.deep.nested.include({
      "verdict.message": 'SpiderIPPool "capture-pool": invalid spec.subnet "10.244.0.1/16": host bits are set; did you mean "10.244.0.0/16"?',
    });
    expect(preparePool(edit({ gateway: "10.244.130.10" }))).to.deep.nested.include({
      "verdict.message": 'SpiderIPPool "capture-pool": spec.gateway 10.244.130.10 is also in spec.ips; a gateway cannot be handed to a pod: add 10.244.130.10 to spec.excludeIPs or remove it from spec.ips',
    });
    expect(preparePool(edit({ routes: [{ dst: "10.10.0.0/16", gw: "10.1.0.1" }] }))).to.deep.nested.include({
      "verdict.message": 'SpiderIPPool "capture-pool": spec.routes[0].gw 10.1.0.1 is outside spec.subnet 10.244.0.0/16; a route\'s gateway must be reachable on the subnet',
    });
    expect(preparePool(edit({ routes: [{ dst: "0.0.0.0/0", gw: "10.244.0.1" }] }))).to.deep.nested.include({
      "verdict.message": 'SpiderIPPool "capture-pool": spec.routes[0].dst 0.0.0.0/0 is the default route; set spec.gateway to configure the default route instead',
    });
    expect(preparePool(edit({ ips: ["fd00::1"] }))).to.deep.nested.include({
      "verdict.message": 'SpiderIPPool "capture-pool": invalid spec.ips[0] "fd00::1": fd00::1 is IPv6, but this object is IPv4 (spec.ipVersion 4)',
    });
  });
});

describe("webhook/validate SpiderSubnet", () => {
  const subnetReq = (name: string, spec: object, operation: "CREATE" | "UPDATE" | "DELETE" = "CREATE"): AdmissionRequest =>
    loadRequest("spiderippool-create", (r) => {
      r.resource = { group: "spiderpool.spidernet.io", version: "v2beta1", resource: "spidersubnets" };
      r.operation = operation;
      const obj = { apiVersion: "spiderpool.spidernet.io/v2beta1", kind: "SpiderSubnet", metadata: { name }, spec };
      if (operation === "DELETE") [r.object, r.oldObject] = [null, obj];
      else if (operation === "UPDATE") [r.object, r.oldObject] = [obj, obj];
      else r.object = obj;
    });
  const cluster = ClusterLedger.empty().with("subnets", "nginx-subnet-v4", { cidr: seedSubnet.cidr, addresses: seedSubnet.addresses });

  it("claims a new subnet's CIDR and denies an overlapping one", () => {
    expect(decideSubnet(subnetReq("other", { subnet: "10.245.0.0/16" }), cluster).write?.subnets.has("other")).to.equal(true);
    expect(decideSubnet(subnetReq("inner", { subnet: "10.244.128.0/17" }), cluster).verdict).to.deep.include({
      message: 'SpiderSubnet "inner": spec.subnet 10.244.128.0/17 overlaps SpiderSubnet "nginx-subnet-v4" (spec.subnet 10.244.0.0/16); subnets may not overlap',
    });
  });

  it("decides a DELETE without the cluster ledger: refused while the subnet's own ledger lists pools, else admitted with no ledger write", () => {
    const held = SubnetLedger.decode(4, JSON.stringify({ "auto4-nginx-eth0-041822837d": { ips: ["10.244.100.90-10.244.100.94"] } }));
    expect(decideSubnetWithoutLedger(subnetReq("nginx-subnet-v4", { subnet: "10.244.0.0/16" }, "DELETE"), held)).to.deep.include({
      message: 'SpiderSubnet "nginx-subnet-v4" still hands addresses to SpiderIPPool "auto4-nginx-eth0-041822837d"; delete those pools (or their workloads) first',
    });
    expect(decideSubnetWithoutLedger(subnetReq("nginx-subnet-v4", { subnet: "10.244.0.0/16" }, "DELETE"), SubnetLedger.empty(4))).to.deep.equal({ allowed: true });
    expect(decideSubnetWithoutLedger(subnetReq("nginx-subnet-v4", { subnet: "10.244.0.0/16" }, "DELETE"), undefined)).to.deep.equal({ allowed: true });
    expect(decideSubnetWithoutLedger(subnetReq("other", { subnet: "10.245.0.0/16" }), undefined)).to.equal(undefined);
  });

  it("refuses an UPDATE that takes away an address a pool holds in the subnet's ledger, naming the pool", () => {
    const held = SubnetLedger.decode(4, JSON.stringify({ "auto4-nginx-eth0-041822837d": { ips: ["10.244.100.90-10.244.100.94"] } }));
    const req = subnetReq("nginx-subnet-v4", { subnet: "10.244.0.0/16", ips: ["10.244.100.1-10.244.100.92"] }, "UPDATE");
    expect(decideSubnet(req, cluster, held).verdict).to.deep.include({
      message: 'SpiderSubnet "nginx-subnet-v4": the update would remove 10.244.100.93-10.244.100.94, which SpiderIPPool "auto4-nginx-eth0-041822837d" holds; shrink or delete that pool first (a subnet\'s addresses are spec.ips less spec.excludeIPs)',
    });
  });
});

describe("webhook/validate immutable fields", () => {
  it("refuses a changed spec.subnet or spec.ipVersion on UPDATE, naming both values", () => {
    const change = (spec: Record<string, unknown>): AdmissionRequest =>
      loadRequest("spiderippool-update", (r) => Object.assign((r.object as { spec: object }).spec, spec));
    expect(preparePool(change({ subnet: "10.245.0.0/16", ips: ["10.245.0.1"] }))).to.deep.nested.include({
      "verdict.message": 'SpiderIPPool "capture-pool": spec.subnet is immutable (10.244.0.0/16 → 10.245.0.0/16); create a new object with the new CIDR instead',
    });
  });
});
