import { expect } from "chai";
import { decidePoolDeletion } from "../../../src/controller/pool-deletion.js";
import { withCondition } from "../../../src/controller/conditions.js";
import { applyTrims, staleClaims } from "../../../src/controller/ledger-sweep.js";
import { SubnetLedger } from "../../../src/reservation/subnet-ledger.js";
import { RELEASE_FINALIZER, type SpiderIPPool } from "../../../src/api/types.js";
import { AllocationRecord } from "../../../src/ip/allocation-record.js";
import { parseIPList } from "../../../src/ip/ip-list.js";
import { parseAddress } from "../../../src/ip/address.js";

function pool(name: string, ips: string[], o: { deleting?: boolean; finalizer?: boolean; holders?: Array<[string, string]> } = {}): SpiderIPPool {
  const record = new AllocationRecord(4);
  for (const [ip, holder] of o.holders ?? []) record.allocate(parseAddress(ip).value, holder);
  return {
    apiVersion: "spiderpool.spidernet.io/v2beta1",
    kind: "SpiderIPPool",
    metadata: { name, ...(o.finalizer === false ? {} : { finalizers: [RELEASE_FINALIZER] }), ...(o.deleting ? { deletionTimestamp: "2026-11-26T12:00:00Z" } : {}) },
    spec: { subnet: "10.244.0.0/16", ips },
    status: { allocations: record.encode() },
  };
}

describe("controller/pool-deletion", () => {
  it("does nothing for a live pool, or one without pinpool's finalizer", () => {
    expect(decidePoolDeletion(pool("p", ["10.244.1.1"]))).to.deep.equal({ kind: "none" });
    expect(decidePoolDeletion(pool("p", ["10.244.1.1"], { deleting: true, finalizer: false }))).to.deep.equal({ kind: "none" });
  });

  it("waits while pods hold addresses, saying who", () => {
    const step = decidePoolDeletion(pool("p", ["10.244.1.1-10.244.1.2"], { deleting: true, holders: [["10.244.1.1", "default/web/0"]] }));
    expect(step).to.deep.equal({
      kind: "wait",
      allocated: 1,
      message: 'waiting for 1 allocated addresses to be released (held by "default/web/0"); the pool is deleted when their pods are gone',
    });
  });

  it("releases an empty pool with its spec (for the ledgers); a pool that never parsed releases nothing", () => {
    const step = decidePoolDeletion(pool("p", ["10.244.1.1"], { deleting: true }));
    expect(step.kind).to.equal("release");
    expect(step.kind === "release" && step.spec?.addresses.toStrings()).to.deep.equal(["10.244.1.1"]);
    expect(decidePoolDeletion({ ...pool("p", ["10.244.1.1"], { deleting: true }), spec: { subnet: "10.244.0.0/33" } })).to.deep.equal({ kind: "release" });
  });

  it("sets a condition once per message, and removes it when there is none", () => {
    const now = new Date("2026-11-26T12:00:00Z");
    const set = withCondition([{ type: "Other", status: "True" }], "Deleting", "AddressesInUse", "waiting", now);
    expect(set).to.deep.equal([
      { type: "Other", status: "True" },
      { type: "Deleting", status: "True", reason: "AddressesInUse", message: "waiting", lastTransitionTime: "2026-11-26T12:00:00.000Z" },
    ]);
    expect(withCondition(set, "Deleting", "AddressesInUse", "waiting", now)).to.equal(undefined);
    expect(withCondition(set, "Deleting", "AddressesInUse", undefined, now)).to.deep.equal([{ type: "Other", status: "True" }]);
    expect(withCondition([{ type: "Other", status: "True" }], "Conflict", "AddressesShared", undefined, now)).to.equal(undefined);
  });
});

describe("controller/ledger-sweep staleClaims", () => {
  const claim = (ips: string[]): { addresses: ReturnType<typeof parseIPList> } => ({ addresses: parseIPList(4, ips, "ips") });

  it("finds claims of pools never stored, and trims claims beyond a stored pool's addresses", () => {
    const stored = new Map([["kept", pool("kept", ["10.244.1.1-10.244.1.5"])]]);
    const out = staleClaims(
      [
        ["ghost", claim(["10.244.2.1"])],
        ["kept", claim(["10.244.1.1-10.244.1.9"])],
      ],
      stored,
    );
    expect(out.map((c) => [c.name, c.keep.toStrings(), c.why])).to.deep.equal([
      ["ghost", [], 'no SpiderIPPool "ghost" exists'],
      ["kept", ["10.244.1.1-10.244.1.5"], 'SpiderIPPool "kept" holds only 10.244.1.1-10.244.1.5 of 10.244.1.1-10.244.1.9'],
    ]);
  });

  it("leaves exact claims and pools whose finalizer will release them", () => {
    const stored = new Map([
      ["exact", pool("exact", ["10.244.1.1-10.244.1.5"])],
      ["going", pool("going", ["10.244.3.1"], { deleting: true })],
    ]);
    expect(staleClaims([["exact", claim(["10.244.1.2"])], ["going", claim(["10.244.3.1-10.244.3.9"])]], stored)).to.deep.equal([]);
  });

  it("names the kind of a missing object: a subnet entry of the cluster ledger", () => {
    const subnet = { metadata: { name: "s" }, spec: { subnet: "10.244.0.0/16", ips: ["10.244.1.1"] } };
    expect(staleClaims([["gone", claim(["10.244.2.1"])]], new Map([["s", subnet]]), "SpiderSubnet").map((c) => c.why)).to.deep.equal(['no SpiderSubnet "gone" exists']);
  });

  it("stands back from a claim written again since it was judged, even with the same addresses (a grow reusing them)", () => {
    const judged = staleClaims([["grown", claim(["10.244.4.1-10.244.4.4"])]], new Map([["grown", pool("grown", ["10.244.4.1"])]]));
    expect(judged.map((t) => t.keep.toString())).to.deep.equal(["10.244.4.1"]);
    const reasserted = SubnetLedger.of(4, new Map([["grown", { ...claim(["10.244.4.1-10.244.4.4"]), rev: 1 }]]));
    const ops = { get: (l: SubnetLedger, n: string) => l.pools.get(n), without: (l: SubnetLedger, n: string) => l.without(n), with: (l: SubnetLedger, n: string, c: { addresses: ReturnType<typeof parseIPList> }) => l.with(n, c) };
    expect(applyTrims(reasserted, judged, ops).applied).to.deep.equal([]);
    const unchanged = SubnetLedger.of(4, new Map([["grown", claim(["10.244.4.1-10.244.4.4"])]]));
    expect(applyTrims(unchanged, judged, ops).ledger.pools.get("grown")?.addresses.toString()).to.equal("10.244.4.1");
  });

  it("applies only trims whose claim still stands as judged, and says which applied", () => {
    const judged = staleClaims([["ghost", claim(["10.244.2.1"])], ["moved", claim(["10.244.3.1"])]], new Map());
    // Since the sweep judged them, "moved" was claimed again with more addresses.
    const now = SubnetLedger.of(4, new Map([["ghost", claim(["10.244.2.1"])], ["moved", claim(["10.244.3.1-10.244.3.2"])]]));
    const out = applyTrims(now, judged, { get: (l, n) => l.pools.get(n), without: (l, n) => l.without(n), with: (l, n, c) => l.with(n, c) });
    expect(out.applied.map((t) => t.name)).to.deep.equal(["ghost"]);
    expect([...out.ledger.pools.keys()]).to.deep.equal(["moved"]);
    expect(out.ledger.pools.get("moved")?.addresses.toStrings()).to.deep.equal(["10.244.3.1-10.244.3.2"]);
  });
});
