/**
 * Grace periods for "has been missing for a while": the reconcilers act on a missing pod,
 * workload or pool object only once it has been missing at every sweep for `graceMs`.
 * One sweep is never enough: its lists are a moment apart, and an object created between
 * two lists looks missing from the older one.
 */
export class Sightings {
  private readonly firstSeen = new Map<string, number>();
  private readonly seenThisSweep = new Set<string>();

  constructor(private readonly graceMs: number) {}

  /** Records that `key` is missing now; true once it has been missing for the grace period. */
  missing(key: string, nowMs: number): boolean {
    this.seenThisSweep.add(key);
    const first = this.firstSeen.get(key);
    if (first === undefined) {
      this.firstSeen.set(key, nowMs);
      return this.graceMs <= 0;
    }
    return nowMs - first >= this.graceMs;
  }

  /** Ends a sweep: anything not reported missing in it is found again, and its clock resets. */
  endSweep(): void {
    for (const key of this.firstSeen.keys()) if (!this.seenThisSweep.has(key)) this.firstSeen.delete(key);
    this.seenThisSweep.clear();
  }

  /** Forgets everything (a new leader starts its clocks afresh). */
  reset(): void {
    this.firstSeen.clear();
    this.seenThisSweep.clear();
  }
}
