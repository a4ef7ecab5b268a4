/**
 * npm run bench:ip — the IP engine's figures, each beside a naive per-address
 * implementation (Spiderpool's approach: enumerate addresses, diff sets) measured in the
 * same run. Prints; asserts nothing. Run with --expose-gc for the heap figures.
 */
import os from "node:os";
import type { Family } from "../../src/ip/address.js";
import { cidrBounds, parseCidr } from "../../src/ip/cidr.js";
import { OverlapIndex } from "../../src/ip/overlap-index.js";
import { type IPRange, RangeSet } from "../../src/ip/range-set.js";
import { formatStats, measure } from "./stats.js";

function heapMiB(): string {
  (globalThis as { gc?: () => void }).gc?.();
  return (process.memoryUsage().heapUsed / 2 ** 20).toFixed(1);
}

function ratio(naiveMs: number, fastMs: number): string {
  return `${(naiveMs / fastMs).toFixed(0)}x`;
}

/** `count` pools of `size` addresses, `stride` apart, from `base`. */
function pools(family: Family, base: bigint, count: number, size: bigint, stride: bigint): Array<[string, RangeSet]> {
  return Array.from({ length: count }, (_, i) => {
    const start = base + BigInt(i) * stride;
    return [`pool-${i}`, RangeSet.of(family, start, start + size - 1n)] as [string, RangeSet];
  });
}

function naiveAddresses(set: RangeSet): Set<bigint> {
  return new Set(set.addresses());
}

function benchOverlap(family: Family, base: bigint): void {
  const existing = pools(family, base, 10_000, 100n, 256n);
  const t = process.hrtime.bigint();
  const index = OverlapIndex.build(family, existing);
  const buildMs = Number(process.hrtime.bigint() - t) / 1e6;
  let k = 0;
  const candidate = (): RangeSet => {
    const start = base + BigInt((k++ * 7_919) % 2_560_000);
    return RangeSet.of(family, start, start + 99n);
  };
  const fast = measure(2_000, () => index.query(candidate()));
  // Naive: for every existing pool, enumerate its addresses and test each candidate address.
  const naive = measure(10, () => {
    const cand = [...candidate().addresses()];
    const hits: string[] = [];
    for (const [name, set] of existing) {
      const addrs = naiveAddresses(set);
      if (cand.some((a) => addrs.has(a))) hits.push(name);
    }
    return hits;
  });
  console.log(`  overlap query vs 10,000 pools: ${formatStats(fast)} (index build ${buildMs.toFixed(1)} ms)`);
  console.log(`    naive per-address scan:      ${formatStats(naive)}; ratio p50 ${ratio(naive.p50, fast.p50)}`);
}

function runsIn(family: Family, base: bigint, runs: number, runLength: bigint, stride: bigint): RangeSet {
  const ranges: IPRange[] = [];
  for (let i = 0; i < runs; i++) {
    const start = base + BigInt(i) * stride;
    ranges.push({ start, end: start + runLength - 1n });
  }
  return RangeSet.fromRanges(family, ranges);
}

function benchFirstFree(family: Family, cidr: string, naiveToo: boolean): void {
  const { start, end } = cidrBounds(parseCidr(cidr));
  const pool = RangeSet.of(family, start, end);
  // 1,000,000 allocated addresses in 10,000 runs of 100 spread over the pool.
  const used = runsIn(family, start, 10_000, 100n, (end - start + 1n) / 10_000n);
  const first = measure(500, () => pool.lowestFree(used, 1));
  const count = measure(100, () => pool.difference(used).size);
  console.log(`  first free in ${cidr}, 1,000,000 allocated in 10,000 runs: ${formatStats(first)} → ${pool.lowestFree(used, 1).toString()}`);
  console.log(`    free-address count (visits every run):  ${formatStats(count)} → ${pool.difference(used).size}`);
  if (!naiveToo) {
    console.log(`    naive per-address: not run, it would enumerate ${(end - start + 1n).toString()} addresses`);
    return;
  }
  // Naive (Spiderpool's FindAvailableIPs, spiderpool#3541): enumerate the pool, diff out the
  // used addresses, take the lowest.
  const usedSet = naiveAddresses(used);
  const naive = measure(2, () => {
    const free: bigint[] = [];
    for (const a of pool.addresses()) if (!usedSet.has(a)) free.push(a);
    return free[0];
  });
  console.log(`    naive per-address (enumerate and diff): ${formatStats(naive)}; ratio p50 ${ratio(naive.p50, first.p50)}`);
}

function benchAutoPool(family: Family, cidr: string, naiveToo: boolean): void {
  const { start, end } = cidrBounds(parseCidr(cidr));
  const subnet = RangeSet.of(family, start, end);
  // 5,000 pools of 10 addresses, 13 apart: 50,000 addresses taken, the free ones in gaps of 3.
  const existing = pools(family, start, 5_000, 10n, 13n);
  const ledger = existing.reduce((acc, [, set]) => acc.union(set), RangeSet.empty(family));
  const withLedger = measure(500, () => subnet.lowestFree(ledger, 1_000));
  const fromPools = measure(50, () => subnet.lowestFree(RangeSet.fromRanges(family, existing.flatMap(([, s]) => s.ranges)), 1_000));
  console.log(`  choose 1,000 free in ${cidr} split among 5,000 pools: ${formatStats(withLedger)} (ledger held as one set)`);
  console.log(`    same, rebuilding the ledger from 5,000 pools: ${formatStats(fromPools)}`);
  if (naiveToo) {
    const naive = measure(5, () => {
      const used = new Set<bigint>();
      for (const [, set] of existing) for (const a of set.addresses()) used.add(a);
      const chosen: bigint[] = [];
      for (const a of subnet.addresses()) {
        if (!used.has(a)) chosen.push(a);
        if (chosen.length === 1_000) break;
      }
      return chosen;
    });
    console.log(`    naive per-address:           ${formatStats(naive)}; ratio p50 ${ratio(naive.p50, withLedger.p50)}`);
  }
}

console.log(`bench:ip on ${os.cpus()[0]?.model ?? "unknown CPU"}, nproc ${os.availableParallelism()}, node ${process.version}`);
console.log(`heap before: ${heapMiB()} MiB`);
console.log("IPv4");
benchOverlap(4, parseCidr("10.0.0.0/8").base);
benchFirstFree(4, "10.64.0.0/10", true);
benchAutoPool(4, "10.244.0.0/16", true);
console.log(`heap after IPv4: ${heapMiB()} MiB`);
console.log("IPv6 /64 (naive enumeration is impossible: 2^64 addresses)");
benchOverlap(6, parseCidr("fd00:1::/64").base);
benchFirstFree(6, "fd00:2::/64", false);
benchAutoPool(6, "fd00:3::/64", false);
console.log(`heap after IPv6: ${heapMiB()} MiB`);
