import { expect } from "chai";
import type { SpiderReservedIP } from "../../../src/api/types.js";
import { reservedIPFamily, reservedSets } from "../../../src/reservation/reserved-ips.js";

const reserved = (name: string, spec: SpiderReservedIP["spec"]): SpiderReservedIP => ({ apiVersion: "spiderpool.spidernet.io/v2beta1", kind: "SpiderReservedIP", metadata: { name }, spec });

describe("reservation/reserved-ips", () => {
  it("merges every SpiderReservedIP per family, inferring a missing ipVersion", () => {
    const items = [reserved("a", { ips: ["10.0.0.1-10.0.0.3"] }), reserved("b", { ipVersion: 4, ips: ["10.0.0.4"] }), reserved("c", { ips: ["fd00::1"] })];
    expect(items.map(reservedIPFamily)).to.deep.equal([4, 4, 6]);
    const sets = reservedSets(items);
    expect([sets[4].toStrings(), sets[6].toStrings()]).to.deep.equal([["10.0.0.1-10.0.0.4"], ["fd00::1"]]);
  });

  it("names the object of a malformed entry", () => {
    expect(() => reservedSets([reserved("bad", { ipVersion: 4, ips: ["10.0.0.x"] })])).to.throw('invalid SpiderReservedIP "bad" spec.ips[0] "10.0.0.x"');
  });
});
