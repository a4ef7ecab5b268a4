import { expect } from "chai";
import { parseIPList } from "../../../src/ip/ip-list.js";
import { ClusterLedger, clusterEntries } from "../../../src/reservation/ledger.js";
import { SubnetLedger, subnetEntries } from "../../../src/reservation/subnet-ledger.js";
import { markPending, pendingOf, settle, settleEntries } from "../../../src/reservation/pending.js";
import { parseCidr } from "../../../src/ip/cidr.js";
import { RELEASE_FINALIZER } from "../../../src/api/types.js";

const ips = (...list: string[]) => parseIPList(4, list, "ips");
const pending = { uid: "7f1c-forged", until: 1_800_000_000_000 };
const pool = (list: string[], metadata: object = {}) => ({ metadata: { name: "p", ...metadata }, spec: { subnet: "10.0.0.0/24", ips: list } });

describe("reservation/pending: provisional admission claims", () => {
  it("marks only the entry the admission changed, and the mark survives encode and decode", () => {
    const before = SubnetLedger.of(4, [["other", { addresses: ips("10.0.0.1") }]]);
    const next = before.with("p", { addresses: ips("10.0.0.2-10.0.0.3"), rev: 1 });
    const marked = markPending(before, next, "p", pending, subnetEntries);
    expect(marked.pools.get("p")?.pending).to.deep.equal(pending);
    expect(markPending(before, next, "other", pending, subnetEntries)).to.equal(next); // unchanged entry: not marked
    const decoded = SubnetLedger.decode(4, marked.encode());
    expect(decoded.pools.get("p")?.pending).to.deep.equal(pending);
    expect(decoded.pools.get("other")).to.not.have.property("pending");
  });

  it("ignores a malformed mark (the sweep's grace period still covers the claim)", () => {
    for (const bad of [null, "x", { uid: "", until: 1 }, { uid: "u", until: "soon" }, { uid: "u", until: -1 }, { uid: 7, until: 1 }]) {
      expect(pendingOf(bad), JSON.stringify(bad)).to.deep.equal({});
    }
    const text = '{"p":{"ips":["10.0.0.2"],"pending":{"uid":"u","until":1e400}}}'; // Infinity once parsed
    expect(SubnetLedger.decode(4, text).pools.get("p")).to.not.have.property("pending");
  });

  it("drops a claim whose object was never stored, cuts one to what the stored object holds, and keeps a finalizing one whole", () => {
    const claim = { addresses: ips("10.0.0.2-10.0.0.9"), pending };
    expect(settle(claim, pending.uid, undefined)).to.deep.equal({ kind: "drop" });
    const cut = settle(claim, pending.uid, pool(["10.0.0.2-10.0.0.3", "10.0.0.200"]));
    expect(cut.kind === "keep" && cut.addresses.toString()).to.equal("10.0.0.2-10.0.0.3");
    expect(settle(claim, pending.uid, pool(["10.0.0.100"]))).to.deep.equal({ kind: "drop" });
    const finalizing = settle(claim, pending.uid, pool(["10.0.0.2"], { deletionTimestamp: "2026-12-07T00:00:00Z", finalizers: [RELEASE_FINALIZER] }));
    expect(finalizing.kind === "keep" && finalizing.addresses.toString()).to.equal("10.0.0.2-10.0.0.9");
  });

  it("stands back when a later admission marked the entry again, or it is gone", () => {
    const claim = { addresses: ips("10.0.0.2"), pending: { uid: "later-genuine", until: pending.until + 1 } };
    expect(settle(claim, pending.uid, undefined)).to.deep.equal({ kind: "none" });
    expect(settle(undefined, pending.uid, undefined)).to.deep.equal({ kind: "none" });
    expect(settle({ addresses: ips("10.0.0.2") }, pending.uid, undefined)).to.deep.equal({ kind: "none" }); // settled before
  });

  it("settles inside the ledger: the entry goes, or stays cut with its mark removed and its revision kept; a later mark stands", () => {
    const ops = clusterEntries("subnets");
    const ledger = ClusterLedger.empty()
      .with("subnets", "forged", { cidr: parseCidr("10.9.0.0/16"), addresses: ips("10.9.0.0-10.9.255.255"), rev: 3, pending })
      .with("subnets", "remarked", { cidr: parseCidr("10.8.0.0/16"), addresses: ips("10.8.0.1"), pending: { uid: "later", until: pending.until + 5 } });
    const gone = settleEntries(ledger, [
      { name: "forged", uid: pending.uid, stored: undefined, ops },
      { name: "remarked", uid: pending.uid, stored: undefined, ops },
    ]);
    expect(gone.kinds).to.deep.equal(["drop", "none"]);
    expect([...gone.ledger.subnets.keys()]).to.deep.equal(["remarked"]);
    const stored = { metadata: { name: "forged" }, spec: { subnet: "10.9.0.0/16", ips: ["10.9.0.1-10.9.0.5"] } };
    const cut = settleEntries(ledger, [{ name: "forged", uid: pending.uid, stored, ops }]);
    const kept = cut.ledger.subnets.get("forged");
    expect(cut.kinds).to.deep.equal(["keep"]);
    expect(kept?.addresses.toString()).to.equal("10.9.0.1-10.9.0.5");
    expect(kept?.rev).to.equal(3);
    expect(kept).to.not.have.property("pending");
    expect(settleEntries(ledger, [{ name: "forged", uid: "another-uid", stored: undefined, ops }]).ledger).to.equal(ledger);
  });
});
