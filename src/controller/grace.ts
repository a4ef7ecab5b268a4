/**
 * Grace periods for "has been missing for a while": the reconcilers act on a missing pod,
 * workload or pool object only once it has been missing at every sweep that judged it for
 * `graceMs`. One sighting is never enough: the watch caches are a moment behind the API
 * server, and an object created since looks missing.
 *
 * Each clock belongs to a subject (sweep-scope.ts): a sweep judges only some subjects, and
 * only theirs can be found again; the subjects whose clocks run are judged at every sweep.
 */
import type { Subject } from "./sweep-scope.js";

export class Sightings {
  private readonly firstSeen = new Map<string, { subject: Subject; at: number }>();
  private readonly seenThisSweep = new Set<string>();

  constructor(private readonly graceMs: number) {}

  /** Records that `key` (of `subject`) is missing now; true once it has been missing for the grace period. */
  missing(subject: Subject, key: string, nowMs: number): boolean {
    this.seenThisSweep.add(key);
    const first = this.firstSeen.get(key);
    if (first === undefined) {
      this.firstSeen.set(key, { subject, at: nowMs });
      return this.graceMs <= 0;
    }
    return nowMs - first.at >= this.graceMs;
  }

  /** Ends a sweep: a clock of a subject it judged that it did not report missing is found again, and resets. */
  endSweep(judged: (subject: Subject) => boolean): void {
    for (const [key, { subject }] of this.firstSeen) if (!this.seenThisSweep.has(key) && judged(subject)) this.firstSeen.delete(key);
    this.seenThisSweep.clear();
  }

  /** The subjects with a running clock. */
  open(): Set<Subject> {
    return new Set([...this.firstSeen.values()].map((f) => f.subject));
  }

  /** Forgets everything (a new leader starts its clocks afresh). */
  reset(): void {
    this.firstSeen.clear();
    this.seenThisSweep.clear();
  }
}
