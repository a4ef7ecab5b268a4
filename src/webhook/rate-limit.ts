/**
 * Per-source rate limiting of review requests, for a webhook that cannot tell the API
 * server from anyone else (PINPOOL_CLIENT_AUTH=none): a token bucket per source address.
 * With mutual TLS the only caller answered is the API server, and nothing is limited.
 * Sources are kept in insertion order and the oldest forgotten beyond `maxSources`, so a
 * spray of addresses costs bounded memory.
 */
export interface RateLimit {
  /** Requests a source may make per second, sustained. */
  perSecond: number;
  /** Requests a source may make at once. */
  burst: number;
  maxSources?: number;
}

export class SourceRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one request's token for `source`: 0 when allowed, else the seconds until one is free (for Retry-After). */
  take(source: string): number {
    const now = this.now();
    const bucket = this.buckets.get(source) ?? { tokens: this.limit.burst, at: now };
    this.buckets.delete(source); // re-inserted last: the map's order is recency
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.limit.perSecond);
    bucket.at = now;
    let wait = 0;
    if (bucket.tokens >= 1) bucket.tokens -= 1;
    else wait = Math.ceil((1 - bucket.tokens) / this.limit.perSecond);
    this.buckets.set(source, bucket);
    if (this.buckets.size > (this.limit.maxSources ?? 10_000)) this.buckets.delete(this.buckets.keys().next().value as string);
    return wait;
  }
}
