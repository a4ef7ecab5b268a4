/**
 * Leader election on a coordination.k8s.io Lease: every controller replica serves the
 * webhooks, one at a time runs the reconcilers. As client-go does, expiry is judged by when
 * *this* process last saw the lease record change, never by comparing another machine's
 * clock (renewTime) with ours, so clock skew cannot make two leaders.
 */
import type * as k8s from "@kubernetes/client-node";
import { apiMessage, isConflict, isNotFound } from "../k8s/errors.js";

export interface LeaseTiming {
  /** A leader that has not renewed for this long is presumed gone. */
  durationSeconds: number;
  /** How often every replica tries to acquire or renew. */
  retrySeconds: number;
  /** A leader that cannot renew for this long stops leading (before others may take over). */
  renewDeadlineSeconds: number;
}

export const DEFAULT_LEASE_TIMING: LeaseTiming = { durationSeconds: 15, retrySeconds: 2, renewDeadlineSeconds: 10 };

/** What the elector last saw of the lease: its record and when it changed, by our clock. */
export interface Observation {
  record: string;
  atMs: number;
}

export type LeaseAction = "acquire" | "renew" | "wait";

/**
 * Pure: what a replica does with the lease as read. `observed` is the previous observation
 * (undefined on the first read); the returned observation replaces it.
 */
export function decideLease(
  spec: k8s.V1LeaseSpec | undefined,
  identity: string,
  nowMs: number,
  observed: Observation | undefined,
  durationSeconds: number,
): { action: LeaseAction; observed: Observation } {
  const record = JSON.stringify([spec?.holderIdentity ?? "", spec?.renewTime ?? "", spec?.leaseTransitions ?? 0]);
  const seen = observed?.record === record ? observed : { record, atMs: nowMs };
  if (!spec?.holderIdentity) return { action: "acquire", observed: seen };
  if (spec.holderIdentity === identity) return { action: "renew", observed: seen };
  const duration = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
  return { action: nowMs - seen.atMs >= duration ? "acquire" : "wait", observed: seen };
}

/** The API server's MicroTime wants six fractional digits; the client would send three. */
export function microTime(d: Date): Date {
  return d.toISOString().replace(/Z$/, "000Z") as unknown as Date;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export class LeaderElector {
  private observed?: Observation;
  private leading = false;
  private lastRenewMs = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly api: k8s.CoordinationV1Api,
    private readonly lease: { namespace: string; name: string; identity: string },
    private readonly callbacks: LeaderCallbacks,
    private readonly log: Logger,
    private readonly timing: LeaseTiming = DEFAULT_LEASE_TIMING,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  private schedule(): void {
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.timing.retrySeconds * 1000);
  }

  private async tick(): Promise<void> {
    try {
      if (await this.tryAcquireOrRenew()) {
        this.lastRenewMs = Date.now();
        if (!this.leading) {
          this.leading = true;
          this.log.info({ lease: this.lease }, "became the leader; reconcilers start");
          this.callbacks.onStartedLeading();
        }
      } else if (this.leading) {
        this.stepDown("another replica holds the lease");
      }
    } catch (e) {
      this.log.warn({ err: e, lease: this.lease }, "lease read or write failed");
      if (this.leading && Date.now() - this.lastRenewMs > this.timing.renewDeadlineSeconds * 1000) {
        this.stepDown(`could not renew for ${this.timing.renewDeadlineSeconds} s`);
      }
    }
    this.schedule();
  }

  private stepDown(why: string): void {
    this.leading = false;
    this.log.warn({ lease: this.lease }, `stopped leading: ${why}`);
    this.callbacks.onStoppedLeading();
  }

  /** One round: true when this replica holds the lease afterwards. A lost race (409) is not an error. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.lease;
    let current: k8s.V1Lease | undefined;
    try {
      current = await this.api.readNamespacedLease({ namespace, name });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    const decided = decideLease(current?.spec, identity, Date.now(), this.observed, this.timing.durationSeconds);
    this.observed = decided.observed;
    if (decided.action === "wait") return false;
    const now = microTime(new Date());
    const spec: k8s.V1LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: this.timing.durationSeconds,
      renewTime: now,
      acquireTime: decided.action === "acquire" ? now : current?.spec?.acquireTime,
      leaseTransitions: (current?.spec?.leaseTransitions ?? 0) + (decided.action === "acquire" && current?.spec?.holderIdentity ? 1 : 0),
    };
    try {
      if (!current) await this.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec } });
      // The resourceVersion read makes this a compare-and-swap: of two replicas that both saw
      // the lease expire, one wins and the other gets 409.
      else await this.api.replaceNamespacedLease({ namespace, name, body: { ...current, spec } });
      return true;
    } catch (e) {
      if (isConflict(e)) return false;
      throw new Error(`writing Lease ${namespace}/${name} failed: ${apiMessage(e)}`, { cause: e });
    }
  }

  /** Stops campaigning; a leader gives the lease up so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    this.callbacks.onStoppedLeading();
    const { namespace, name } = this.lease;
    try {
      const current = await this.api.readNamespacedLease({ namespace, name });
      if (current.spec?.holderIdentity !== this.lease.identity) return;
      await this.api.replaceNamespacedLease({ namespace, name, body: { ...current, spec: { ...current.spec, holderIdentity: "" } } });
    } catch (e) {
      if (!isConflict(e) && !isNotFound(e)) this.log.warn({ err: e, lease: this.lease }, "could not release the lease; it expires on its own");
    }
  }
}
