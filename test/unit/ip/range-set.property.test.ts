import { expect } from "chai";
import fc from "fast-check";
import { type Family, maxAddress } from "../../../src/ip/address.js";
import { OverlapIndex } from "../../../src/ip/overlap-index.js";
import { type IPRange, RangeSet } from "../../../src/ip/range-set.js";

/**
 * Every operation is checked against a naive per-address reference (a Set of bigints) on
 * small universes of 48 addresses. The universes sit at the edges of each family (0.0.0.0,
 * 255.255.255.255, ::, ffff:…:ffff) and at random places, so carries and the ends of the
 * address space are exercised.
 */
const WIDTH = 48n;

function universes(family: Family): fc.Arbitrary<bigint> {
  const max = maxAddress(family);
  return fc.oneof(
    fc.constant(0n),
    fc.constant(max - WIDTH + 1n),
    fc.bigInt({ min: 0n, max: max - WIDTH + 1n }),
  );
}

function rangesIn(base: bigint): fc.Arbitrary<IPRange[]> {
  const range = fc
    .tuple(fc.bigInt({ min: 0n, max: WIDTH - 1n }), fc.bigInt({ min: 0n, max: 12n }))
    .map(([offset, len]) => {
      const end = offset + len > WIDTH - 1n ? WIDTH - 1n : offset + len;
      return { start: base + offset, end: base + end };
    });
  return fc.array(range, { maxLength: 6 });
}

function naive(ranges: readonly IPRange[]): Set<bigint> {
  const s = new Set<bigint>();
  for (const r of ranges) for (let v = r.start; v <= r.end; v++) s.add(v);
  return s;
}

function addressesOf(set: RangeSet): bigint[] {
  return [...set.addresses()];
}

function sorted(s: Iterable<bigint>): bigint[] {
  return [...s].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function isNormalised(set: RangeSet): boolean {
  return set.ranges.every((r, i) => {
    const prev = set.ranges[i - 1];
    return r.start <= r.end && (!prev || prev.end + 1n < r.start);
  });
}

for (const family of [4, 6] as const) {
  const scenario = universes(family).chain((base) =>
    fc.record({ base: fc.constant(base), a: rangesIn(base), b: rangesIn(base), probe: fc.bigInt({ min: base, max: base + WIDTH - 1n }) }),
  );

  describe(`ip/RangeSet against a naive reference, IPv${family}`, () => {
    it("normalises any input to sorted, disjoint, non-adjacent ranges holding the same addresses", () => {
      fc.assert(
        fc.property(scenario, ({ a }) => {
          const set = RangeSet.fromRanges(family, a);
          expect(isNormalised(set)).to.be.true;
          expect(addressesOf(set)).to.deep.equal(sorted(naive(a)));
          expect(set.size).to.equal(BigInt(naive(a).size));
        }),
      );
    });

    it("union, intersection, difference, overlaps", () => {
      fc.assert(
        fc.property(scenario, ({ a, b }) => {
          const sa = RangeSet.fromRanges(family, a);
          const sb = RangeSet.fromRanges(family, b);
          const na = naive(a);
          const nb = naive(b);
          const union = sa.union(sb);
          const inter = sa.intersection(sb);
          const diff = sa.difference(sb);
          for (const s of [union, inter, diff]) expect(isNormalised(s)).to.be.true;
          expect(addressesOf(union)).to.deep.equal(sorted(new Set([...na, ...nb])));
          expect(addressesOf(inter)).to.deep.equal(sorted([...na].filter((v) => nb.has(v))));
          expect(addressesOf(diff)).to.deep.equal(sorted([...na].filter((v) => !nb.has(v))));
          expect(sa.overlaps(sb).equals(inter)).to.be.true;
        }),
      );
    });

    it("contains, containsSet, equals", () => {
      fc.assert(
        fc.property(scenario, ({ a, b, probe }) => {
          const sa = RangeSet.fromRanges(family, a);
          const sb = RangeSet.fromRanges(family, b);
          const na = naive(a);
          const nb = naive(b);
          expect(sa.contains(probe)).to.equal(na.has(probe));
          expect(sa.containsSet(sb)).to.equal([...nb].every((v) => na.has(v)));
          const same = na.size === nb.size && [...na].every((v) => nb.has(v));
          expect(sa.equals(sb)).to.equal(same);
          expect(sa.equals(RangeSet.fromRanges(family, [...a].reverse()))).to.be.true;
        }),
      );
    });

    it("take and takeLast give the lowest and highest N addresses", () => {
      fc.assert(
        fc.property(scenario, fc.integer({ min: 0, max: 60 }), ({ a }, n) => {
          const sa = RangeSet.fromRanges(family, a);
          const all = sorted(naive(a));
          expect(addressesOf(sa.take(n))).to.deep.equal(all.slice(0, n));
          expect(addressesOf(sa.takeLast(n))).to.deep.equal(n === 0 ? [] : all.slice(-n));
        }),
      );
    });

    it("lowestFree gives the lowest N addresses of a set that another set does not hold", () => {
      fc.assert(
        fc.property(scenario, fc.integer({ min: 0, max: 60 }), ({ a, b }, n) => {
          const nb = naive(b);
          const free = sorted(naive(a)).filter((v) => !nb.has(v));
          const got = RangeSet.fromRanges(family, a).lowestFree(RangeSet.fromRanges(family, b), n);
          expect(isNormalised(got)).to.be.true;
          expect(addressesOf(got)).to.deep.equal(free.slice(0, n));
        }),
      );
    });

    it("the overlap index finds exactly the owners a brute-force scan finds", () => {
      const owners = fc.array(rangesIn(0n), { maxLength: 8 });
      fc.assert(
        fc.property(universes(family), owners, rangesIn(0n), (base, ownerRanges, candidate) => {
          const shift = (rs: IPRange[]): IPRange[] => rs.map((r) => ({ start: r.start + base, end: r.end + base }));
          const sets = ownerRanges.map((rs, i) => [`pool-${i}`, RangeSet.fromRanges(family, shift(rs))] as const);
          const cand = RangeSet.fromRanges(family, shift(candidate));
          const index = OverlapIndex.build(family, sets);
          const expected = sets
            .map(([owner, set]) => ({ owner, overlap: set.intersection(cand) }))
            .filter((o) => !o.overlap.isEmpty)
            .sort((x, y) => (x.owner < y.owner ? -1 : 1));
          const got = index.query(cand);
          expect(got.map((o) => o.owner)).to.deep.equal(expected.map((o) => o.owner));
          got.forEach((o, i) => expect(o.overlap.equals((expected[i] as (typeof expected)[number]).overlap)).to.be.true);
        }),
      );
    });
  });
}

describe("ip/RangeSet edges", () => {
  const max4 = maxAddress(4);
  const max6 = maxAddress(6);

  it("merges adjacent ranges, keeps touching-but-disjoint neighbours apart when there is a gap", () => {
    expect(RangeSet.fromRanges(4, [{ start: 0n, end: 4n }, { start: 5n, end: 9n }]).ranges).to.deep.equal([{ start: 0n, end: 9n }]);
    expect(RangeSet.fromRanges(4, [{ start: 0n, end: 4n }, { start: 6n, end: 9n }]).ranges.length).to.equal(2);
  });

  it("handles the whole address space (/0) of both families", () => {
    const all4 = RangeSet.of(4, 0n, max4);
    expect(all4.size).to.equal(1n << 32n);
    expect(all4.difference(RangeSet.of(4, max4)).toStrings()).to.deep.equal(["0.0.0.0-255.255.255.254"]);
    const all6 = RangeSet.of(6, 0n, max6);
    expect(all6.size).to.equal(1n << 128n);
    expect(all6.difference(RangeSet.of(6, 0n)).toStrings()).to.deep.equal(["::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]);
    expect(all6.take(2).toStrings()).to.deep.equal(["::-::1"]);
  });

  it("refuses to mix families and out-of-range values", () => {
    expect(() => RangeSet.of(4, 0n).union(RangeSet.of(6, 0n))).to.throw("cannot combine an IPv4 set with an IPv6 set");
    expect(() => RangeSet.of(4, 0n, max4 + 1n)).to.throw(RangeError);
    expect(() => RangeSet.of(4, 5n, 4n)).to.throw(RangeError);
  });
});
