/** Latency statistics shared by the benchmark scripts. */
export interface Stats {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export function percentile(sortedMs: readonly number[], p: number): number {
  if (sortedMs.length === 0) return NaN;
  const i = Math.min(sortedMs.length - 1, Math.ceil((p / 100) * sortedMs.length) - 1);
  return sortedMs[Math.max(0, i)] as number;
}

export function summarise(samplesMs: readonly number[]): Stats {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN };
}

/** Runs `fn` `n` times (after a short warm-up) and returns its latency figures in ms. */
export function measure(n: number, fn: () => unknown): Stats {
  for (let i = 0; i < Math.min(20, n); i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return summarise(samples);
}

export function formatStats(s: Stats): string {
  const f = (ms: number): string => (ms < 1 ? ms.toFixed(3) : ms.toFixed(1));
  return `p50 ${f(s.p50)} ms, p99 ${f(s.p99)} ms, max ${f(s.max)} ms (n=${s.n})`;
}
