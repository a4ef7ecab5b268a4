import { expect } from "chai";
import type { Family } from "../../../src/ip/address.js";
import { parseIPList } from "../../../src/ip/ip-list.js";
import { type Overlap, OverlapIndex } from "../../../src/ip/overlap-index.js";
import { type IPRange, RangeSet } from "../../../src/ip/range-set.js";
import type { PoolClaim } from "../../../src/reservation/ledger.js";
import { DIRECTORY, LedgerPart, MAX_BLOCKS_REGISTERED_PER_CLAIM, blockKey, blockOf, blockSet, encodeClaim } from "../../../src/reservation/ledger-part.js";
import { SubnetLedger } from "../../../src/reservation/subnet-ledger.js";

const v4 = (...list: string[]) => parseIPList(4, list, "ips");
const v6 = (...list: string[]) => parseIPList(6, list, "ips");
const claim = (addresses: RangeSet, rev?: number): PoolClaim => ({ addresses, ...(rev ? { rev } : {}) });
const sorted = (keys: Iterable<string>) => [...keys].sort();
const show = (o: readonly Overlap[]) => o.map((x) => `${x.owner}:${x.overlap.toString()}`);
const keyOf = (ip: string, family: Family = 4) => blockKey(blockOf(parseIPList(family, [ip], "ip").first as bigint));
const union = (family: Family, claims: Iterable<PoolClaim>) => RangeSet.fromRanges(family, [...claims].flatMap((c) => c.addresses.ranges));
const encodeModel = (m: ReadonlyMap<string, PoolClaim>) => JSON.stringify(Object.fromEntries(sorted(m.keys()).map((n) => [n, encodeClaim(m.get(n) as PoolClaim)])));

/** `l` as another replica reads it back from its stored objects: the directory, its blocks, each block's part. */
function readBack(l: SubnetLedger, parts: ReadonlyMap<string, LedgerPart | undefined> = new Map(l.blocks.map((b) => [blockKey(b), l.part(blockKey(b))] as const))): SubnetLedger {
  return SubnetLedger.stored(l.family, l.part(DIRECTORY), l.blocks, parts);
}
/** What a watch delivers after `l` was written: every part it touched, and the blocks when the directory changed. */
function follow(reader: SubnetLedger, l: SubnetLedger): SubnetLedger {
  return reader.withStoredChanges(new Map([...l.touched].map((k) => [k, l.part(k)] as const)), l.touched.has(DIRECTORY) ? l.blocks : undefined);
}

/** Every address lies in one part: the directory outside registered blocks, each block's own part inside it. */
function checkLayout(l: SubnetLedger): void {
  const registered = RangeSet.fromRanges(l.family, l.blocks.flatMap((b) => blockSet(l.family, b).ranges));
  expect(l.part(DIRECTORY).held.intersection(registered).toString(), "directory claims in registered blocks").to.equal("");
  const pieces = new Map<string, IPRange[]>();
  for (const [key, region] of [[DIRECTORY, undefined] as const, ...l.blocks.map((b) => [blockKey(b), blockSet(l.family, b)] as const)]) {
    if (region) expect(region.containsSet(l.part(key).held), `part ${key} stays in its block`).to.equal(true);
    for (const [name, piece] of l.part(key).entries) pieces.set(name, [...(pieces.get(name) ?? []), ...piece.addresses.ranges]);
  }
  expect(sorted(pieces.keys())).to.deep.equal(sorted([...l.pools].filter(([, c]) => !c.addresses.isEmpty).map(([n]) => n)));
  for (const [name, ranges] of pieces) expect(RangeSet.fromRanges(l.family, ranges).toString(), name).to.equal(l.pools.get(name)?.addresses.toString());
}

/** Every part that differs from the stored `base` is touched, and only the directory and registered blocks are. */
function checkTouched(base: SubnetLedger, l: SubnetLedger): void {
  const keys = new Set([DIRECTORY, ...base.blocks.map(blockKey), ...l.blocks.map(blockKey)]);
  for (const k of keys) if (JSON.stringify(base.part(k).encode()) !== JSON.stringify(l.part(k).encode())) expect(l.touched.has(k), `changed part ${k} touched`).to.equal(true);
  if (base.blocks.join() !== l.blocks.join()) expect(l.touched.has(DIRECTORY), "new blocks: directory touched").to.equal(true);
  for (const k of l.touched) expect(k === DIRECTORY || l.blocks.map(blockKey).includes(k), `touched ${k} is registered`).to.equal(true);
}

/** A small seeded LCG: `rand(n)` is in [0, n). */
function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.floor((s / 2 ** 32) * n);
  };
}

interface Shape {
  family: Family;
  base: bigint;
  span: bigint;
  /** Offsets where claims crowd, so that they collide and cross blocks. */
  hot: bigint[];
  wide: [bigint, bigint];
}
const V4: Shape = { family: 4, base: 0x0a400000n, span: 1n << 16n, hot: [0n, 0x1f80n, 0x8000n, 0xff00n], wide: [17n * 256n, 48n * 256n] };
const V6: Shape = { family: 6, base: 0xfd00n << 112n, span: 1n << 24n, hot: [0n, 0x123480n, 0x800000n, 0xffff00n], wide: [1n << 14n, 1n << 20n] };

function randomOps(shape: Shape, seed: number, steps: number): void {
  const rand = lcg(seed);
  const { family, base, span } = shape;
  const big = (n: bigint) => (BigInt(rand(2 ** 30)) * n) >> 30n;
  const range = (wide: boolean): IPRange => {
    const len = wide ? shape.wide[0] + big(shape.wide[1] - shape.wide[0]) : 1n + big(300n);
    const at = rand(4) === 0 ? big(span) : (shape.hot[rand(shape.hot.length)] as bigint) + big(2048n) - 1024n;
    const start = at < 0n ? 0n : at > span - len ? span - len : at;
    return { start: base + start, end: base + start + len - 1n };
  };
  const set = (count: number, wideOdds: number) => RangeSet.fromRanges(family, Array.from({ length: count }, () => range(rand(wideOdds) === 0)));
  const hole = span / 2n;
  const spaces = [RangeSet.of(family, base, base + span - 1n).difference(RangeSet.of(family, base + hole, base + hole + 300n)), RangeSet.of(family, base + 0x1f00n, base + 0x2100n)];

  const check = (l: SubnetLedger, model: ReadonlyMap<string, PoolClaim>): void => {
    expect(l.encode()).to.equal(encodeModel(model));
    const held = union(family, model.values());
    expect(l.held.toString()).to.equal(held.toString());
    for (const space of spaces) {
      const unavailable = set(rand(4), 8);
      const n = rand(5) === 0 ? 5000 : 1 + rand(600);
      expect(l.lowestFree(space, unavailable, n).toString(), `lowestFree ${n}`).to.equal(space.lowestFree(held.union(unavailable), n).toString());
    }
    const index = OverlapIndex.build(family, [...model].map(([n, c]) => [n, c.addresses] as const));
    for (let i = 0; i < 3; i++) {
      const q = set(1 + rand(2), 4);
      const except = rand(2) ? `pool-${rand(12)}` : undefined;
      expect(show(l.conflicts(q, except)), `conflicts ${q.toString()}`).to.deep.equal(show(index.query(q, except)));
    }
  };

  const model = new Map<string, PoolClaim>();
  let ledger = SubnetLedger.empty(family);
  let stored = ledger; // as last written
  let reader = readBack(ledger); // another replica's cache, following the writes
  for (let step = 1; step <= steps; step++) {
    const name = `pool-${rand(12)}`;
    const op = rand(10);
    if (op < 7) {
      const c: PoolClaim = { addresses: set(1 + rand(3), 6), rev: step, ...(rand(2) ? { application: `app-${name}` } : {}) };
      ledger = ledger.with(name, c);
      model.set(name, c);
    } else if (op < 9) {
      ledger = ledger.without(name);
      model.delete(name);
    } else {
      reader = follow(reader, ledger);
      expect(reader.encode()).to.equal(readBack(ledger).encode());
      expect(reader.blocks).to.deep.equal(ledger.blocks);
      expect(reader.touched.size).to.equal(0);
      check(reader, model);
      ledger = readBack(ledger);
      stored = ledger;
      expect(ledger.touched.size).to.equal(0);
    }
    checkLayout(ledger);
    checkTouched(stored, ledger);
    check(ledger, model);
    expect(readBack(ledger).encode()).to.equal(ledger.encode());
  }
}

describe("reservation/SubnetLedger: a subnet's ledger in parts", () => {
  const pools1000 = () => {
    let l = SubnetLedger.empty(4);
    for (let i = 0n; i < 1000n; i++) l = l.with(`pool-${i}`, claim(RangeSet.of(4, 0x0a400000n + 2n * i, 0x0a400001n + 2n * i)));
    return l;
  };

  it("a reservation among 1,000 pools touches its one block's part; the directory only when it registers a block", () => {
    const l = readBack(pools1000());
    expect(l.blocks).to.deep.equal([0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n].map((b) => 0xa4000n + b));
    expect(l.touched.size).to.equal(0);
    expect(l.part(DIRECTORY).entries.size).to.equal(0);
    expect(l.part("a4000").entries.size).to.equal(128);
    const one = l.with("new", claim(v4("10.64.7.208-10.64.7.209")));
    expect(sorted(one.touched)).to.deep.equal(["a4007"]);
    expect(one.part("a4007").entries.get("new")?.addresses.toString()).to.equal("10.64.7.208-10.64.7.209");
    expect(sorted(l.with("pool-3", claim(v4("10.64.0.6-10.64.0.7"), 2)).touched)).to.deep.equal(["a4000"]); // re-claim in place
    expect(sorted(l.with("pool-3", claim(v4("10.64.7.210-10.64.7.211"))).touched)).to.deep.equal(["a4000", "a4007"]); // moved: old and new block
    expect(sorted(l.without("pool-999").touched)).to.deep.equal(["a4007"]);
    const fresh = l.with("new", claim(v4("10.64.9.0-10.64.9.1")));
    expect(sorted(fresh.touched)).to.deep.equal(["a4009", DIRECTORY]);
    expect(fresh.blocks.map(blockKey)).to.include("a4009");
  });

  it("a claim across a block boundary touches both blocks (and registers the one it needs)", () => {
    const l = readBack(pools1000().with("b8", claim(v4("10.64.8.100"))));
    expect(sorted(l.with("cross", claim(v4("10.64.7.255-10.64.8.0"))).touched)).to.deep.equal(["a4007", "a4008"]);
    const registering = l.with("cross", claim(v4("10.64.8.255-10.64.9.0")));
    expect(sorted(registering.touched)).to.deep.equal(["a4008", "a4009", DIRECTORY]);
    expect(registering.part("a4009").entries.get("cross")?.addresses.toString()).to.equal("10.64.9.0");
    expect(show(registering.conflicts(v4("10.64.8.250-10.64.9.10")))).to.deep.equal(["cross:10.64.8.255-10.64.9.0"]);
  });

  it(`registers at most ${MAX_BLOCKS_REGISTERED_PER_CLAIM} blocks for a claim; the rest of a wider one stays in the directory`, () => {
    const sixteen = SubnetLedger.empty(4).with("p", claim(v4("10.0.0.0-10.0.15.255")));
    expect(sixteen.blocks.length).to.equal(MAX_BLOCKS_REGISTERED_PER_CLAIM);
    expect(sixteen.part(DIRECTORY).entries.size).to.equal(0);
    const seventeen = SubnetLedger.empty(4).with("p", claim(v4("10.0.0.0-10.0.16.0")));
    expect(seventeen.blocks).to.deep.equal([]);
    expect(sorted(seventeen.touched)).to.deep.equal([DIRECTORY]);
    // Outside registered blocks it needs few: those are registered, the directory keeps none of it.
    const mostly = SubnetLedger.empty(4).with("a", claim(v4("10.0.0.0-10.0.15.255"))).with("b", claim(v4("10.0.0.0-10.0.16.0")));
    expect(mostly.blocks.length).to.equal(17);
    expect(mostly.part(DIRECTORY).entries.size).to.equal(0);
    expect(mostly.part(keyOf("10.0.16.0")).entries.get("b")?.addresses.toString()).to.equal("10.0.16.0");
  });

  it("keeps an IPv6 claim of 2^20 addresses in the directory, and a small claim in its region there too: claims never move between parts", () => {
    const wide = v6("fd00::-fd00::f:ffff");
    const l = readBack(SubnetLedger.empty(6).with("wide", { addresses: wide, rev: 4, application: "manual" }));
    expect(wide.size).to.equal(1n << 20n);
    expect(l.blocks).to.deep.equal([]);
    expect(l.part(DIRECTORY).entries.get("wide")?.addresses.toString()).to.equal("fd00::-fd00::f:ffff");
    const small = l.with("small", claim(v6("fd00::5:1234-fd00::5:1235")));
    expect(sorted(small.touched)).to.deep.equal([DIRECTORY]);
    expect(small.blocks).to.deep.equal([]);
    expect(small.part(DIRECTORY).entries.get("wide")?.addresses.toString()).to.equal("fd00::-fd00::f:ffff");
    expect(show(small.conflicts(v6("fd00::5:1280"), "small"))).to.deep.equal(["wide:fd00::5:1280"]);
    expect(show(small.conflicts(v6("fd00::5:1235-fd00::5:1300")))).to.deep.equal(["small:fd00::5:1235", "wide:fd00::5:1235-fd00::5:1300"]);
    expect(small.lowestFree(v6("fd00::5:1230-fd00::5:1240", "fd00::f:fffe-fd00::10:ff"), RangeSet.empty(6), 3).toString()).to.equal("fd00::10:0-fd00::10:2");
    // Beyond the wide claim's blocks a small claim registers its own block.
    const beyond = readBack(small).with("beyond", claim(v6("fd00::10:5")));
    const key = keyOf("fd00::10:0", 6);
    expect(sorted(beyond.touched)).to.deep.equal(sorted([key, DIRECTORY]));
    expect(beyond.blocks.map(blockKey)).to.deep.equal([key]);
    checkLayout(beyond);
    expect(readBack(beyond).encode()).to.equal(beyond.encode());
    expect(sorted(readBack(beyond).without("wide").touched)).to.deep.equal([DIRECTORY]);
    expect(show(beyond.without("wide").conflicts(v6("fd00::5:1280")))).to.deep.equal([]);
  });

  it("reads back what it stored: the directory, the blocks and each block's part make the same pools", () => {
    const l = SubnetLedger.empty(4)
      .with("wide", { addresses: v4("10.1.0.0-10.1.63.255"), rev: 2, application: "manual" })
      .with("a", { addresses: v4("10.1.3.250-10.1.4.5", "10.2.0.1"), rev: 7, application: "apps_v1_Deployment_default_a", pending: { uid: "u-1", until: 1_800_000_000_000 } })
      .with("b", claim(v4("10.2.0.2-10.2.0.9")));
    const back = readBack(l);
    expect(back.encode()).to.equal(l.encode());
    expect(back.blocks).to.deep.equal(l.blocks);
    expect(back.held.toString()).to.equal(l.held.toString());
    expect(back.touched.size).to.equal(0);
    expect(back.pools.get("wide")).to.deep.include({ rev: 2, application: "manual" });
    expect(back.lowestFree(v4("10.1.0.0-10.2.255.255"), v4("10.1.64.0"), 2).toString()).to.equal("10.1.64.1-10.1.64.2");
    expect(show(back.conflicts(v4("10.1.4.0-10.2.0.2"), "b"))).to.deep.equal(["a:10.1.4.0-10.1.4.5,10.2.0.1", "wide:10.1.4.0-10.1.63.255"]);
    // The legacy JSON (status.controlledIPPools) imports as the same pools, every part to be written.
    const imported = SubnetLedger.decode(4, l.encode());
    expect(imported.encode()).to.equal(l.encode());
    expect(sorted(imported.touched)).to.deep.equal(sorted([DIRECTORY, ...imported.blocks.map(blockKey)]));
  });

  it("follows another writer's changed parts (withStoredChanges) to what reading the newer ledger afresh gives, registered blocks included", () => {
    const old = readBack(
      SubnetLedger.empty(4)
        .with("wide", { addresses: v4("10.1.0.0-10.1.63.255"), rev: 1 })
        .with("a", claim(v4("10.1.3.250-10.1.4.5"), 1))
        .with("gone", claim(v4("10.1.200.1-10.1.200.2"), 1)),
    );
    const newer = old
      .with("x", claim(v4("10.1.100.7"), 2)) // registers 10.1.100.0/24
      .with("a", claim(v4("10.1.3.250-10.1.4.9", "10.1.200.3"), 3)) // grows in one block and into another
      .without("gone");
    expect(newer.blocks.length).to.equal(old.blocks.length + 1);
    const followed = follow(readBack(old), newer);
    expect(followed.encode()).to.equal(readBack(newer).encode());
    expect(followed.encode()).to.equal(newer.encode());
    expect(followed.blocks).to.deep.equal(newer.blocks);
    expect(followed.held.toString()).to.equal(newer.held.toString());
    expect(show(followed.conflicts(v4("10.1.30.9")))).to.deep.equal(["wide:10.1.30.9"]);
    expect(followed.lowestFree(v4("10.1.30.0-10.1.30.255"), RangeSet.empty(4), 1).toString()).to.equal("");
    // A block's object deleted: its pieces go, as reading the remaining objects gives, and the block is held closed.
    const key = keyOf("10.1.200.0");
    const parts = new Map(newer.blocks.map((b) => [blockKey(b), blockKey(b) === key ? undefined : newer.part(blockKey(b))] as const));
    const lost = readBack(newer).withStoredChanges(new Map([[key, undefined]]));
    expect(lost.encode()).to.equal(readBack(newer, parts).encode());
    expect(lost.pools.get("a")?.addresses.toString()).to.equal("10.1.3.250-10.1.4.9");
    expect([...lost.missing]).to.deep.equal([key]);
    expect(lost.lowestFree(v4("10.1.200.0-10.1.201.255"), RangeSet.empty(4), 1).toString()).to.equal("10.1.201.0");
  });

  it("merges a pool's pieces of different revisions (a write that landed in part) with the newest piece's metadata", () => {
    const l = readBack(SubnetLedger.empty(4).with("p", { addresses: v4("10.0.0.250-10.0.1.5"), rev: 3, application: "old" }));
    const [k0, k1] = [keyOf("10.0.0.0"), keyOf("10.0.1.0")];
    for (const [key, addresses, merged] of [[k1, "10.0.0.250-10.0.1.9", "10.0.0.250-10.0.1.9"], [k0, "10.0.0.240-10.0.1.4", "10.0.0.240-10.0.1.5"]] as const) {
      const newer = l.with("p", { addresses: v4(addresses), rev: 4, application: "new" });
      const other = key === k0 ? k1 : k0;
      // Only `key`'s object took the newer claim; the other block's object still has the older piece.
      for (const mixed of [readBack(l, new Map([[key, newer.part(key)], [other, l.part(other)]])), l.withStoredChanges(new Map([[key, newer.part(key)]]))]) {
        expect(mixed.pools.get("p"), key).to.deep.include({ rev: 4, application: "new" });
        expect(mixed.pools.get("p")?.addresses.toString()).to.equal(merged);
      }
    }
  });

  it("takes in only the parts of registered blocks when reading stored parts", () => {
    const l = SubnetLedger.empty(4).with("a", claim(v4("10.0.0.1")));
    const stray = new LedgerPart(4, new Map([["ghost", claim(v4("10.0.1.5"))]]));
    const back = readBack(l, new Map([[keyOf("10.0.0.1"), l.part(keyOf("10.0.0.1"))], [keyOf("10.0.1.5"), stray]]));
    expect(back.encode()).to.equal(l.encode());
    expect(back.held.toString()).to.equal("10.0.0.1");
    expect(back.lowestFree(v4("10.0.1.5"), RangeSet.empty(4), 1).toString()).to.equal("10.0.1.5");
  });

  it("keeps a pool whose claim became empty (as the unsharded ledger stored it) when read back", () => {
    const l = readBack(SubnetLedger.empty(4).with("p", claim(v4("10.0.0.1-10.0.0.2"), 3))).with("p", claim(v4(), 4));
    expect(l.encode()).to.equal('{"p":{"ips":[],"rev":4}}');
    expect(readBack(l).encode()).to.equal(l.encode());
  });

  for (const [shape, seeds] of [[V4, [1, 2, 3]], [V6, [4, 5, 6]]] as const) {
    it(`equals the unsharded ledger on random IPv${shape.family} claims, small and wide (seeds ${seeds.join(", ")})`, function () {
      this.timeout(20_000);
      for (const seed of seeds) randomOps(shape, seed, 150);
    });
  }
});
