import { expect } from "chai";
import type { SpiderReservedIP } from "../../../src/api/types.js";
import { reservedIPFamily, reservedSets, skippedWarnings } from "../../../src/reservation/reserved-ips.js";

const reserved = (name: string, spec: SpiderReservedIP["spec"]): SpiderReservedIP => ({ apiVersion: "spiderpool.spidernet.io/v2beta1", kind: "SpiderReservedIP", metadata: { name }, spec });

describe("reservation/reserved-ips", () => {
  it("merges every SpiderReservedIP per family, inferring a missing ipVersion", () => {
    const items = [reserved("a", { ips: ["10.0.0.1-10.0.0.3"] }), reserved("b", { ipVersion: 4, ips: ["10.0.0.4"] }), reserved("c", { ips: ["fd00::1"] })];
    expect(items.map(reservedIPFamily)).to.deep.equal([4, 4, 6]);
    const { sets, skipped } = reservedSets(items);
    expect([sets[4].toStrings(), sets[6].toStrings()]).to.deep.equal([["10.0.0.1-10.0.0.4"], ["fd00::1"]]);
    expect(skipped).to.deep.equal([]);
  });

  it("skips a malformed one, naming it, and keeps every other", () => {
    const out = reservedSets([reserved("bad", { ipVersion: 4, ips: ["10.0.0.x"] }), reserved("good", { ips: ["10.0.0.9"] })]);
    expect(out.sets[4].toStrings()).to.deep.equal(["10.0.0.9"]);
    expect(out.skipped.map((s) => s.name)).to.deep.equal(["bad"]);
    expect(out.skipped[0]?.message).to.include('invalid SpiderReservedIP "bad" spec.ips[0] "10.0.0.x"');
    expect(skippedWarnings(out)).to.deep.equal([`SpiderReservedIP "bad" is ignored: ${out.skipped[0]?.message}; fix or delete it`]);
  });
});
