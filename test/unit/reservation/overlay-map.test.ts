import { expect } from "chai";
import fc from "fast-check";
import { OverlayMap } from "../../../src/reservation/overlay-map.js";

describe("reservation/OverlayMap", () => {
  it("behaves as a copied Map under any sequence of sets and deletes, and never changes its parents", () => {
    const op = fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 200 }), fc.integer());
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer()), { maxLength: 50 }), fc.array(op, { maxLength: 400 }), (initial, ops) => {
        let overlay = OverlayMap.of(initial);
        const reference = new Map(initial);
        const snapshots: Array<[OverlayMap<number, number>, Map<number, number>]> = [];
        for (const [set, key, value] of ops) {
          overlay = set ? overlay.with(key, value) : overlay.without(key);
          if (set) reference.set(key, value);
          else reference.delete(key);
          if (snapshots.length < 5 && key % 37 === 0) snapshots.push([overlay, new Map(reference)]);
          expect(overlay.get(key)).to.equal(reference.get(key));
        }
        expect(new Map(overlay)).to.deep.equal(reference);
        expect(overlay.size).to.equal(reference.size);
        for (const [snap, ref] of snapshots) expect(new Map(snap)).to.deep.equal(ref);
      }),
    );
  });
});
