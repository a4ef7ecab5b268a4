/**
 * Transient API failures: which errors are worth running a decision again for (429, 5xx,
 * a dropped connection), how long the API server asks us to wait, and the bounded,
 * jittered retry loop the boundaries (webhook, agent) wrap their decisions in. Decisions
 * are compare-and-swaps on what they read, so running one again is safe.
 */
import { ApiException } from "@kubernetes/client-node";
import { apiReason, describeApiError, statusBody } from "./errors.js";

/**
 * Statuses that say "not now" rather than "no": 429 (priority and fairness, or storage
 * (re)initializing right after an API server restart), 500 (etcd timeouts surface so), and
 * what a load balancer in front of the API server answers while it restarts.
 */
const TRANSIENT_STATUSES = new Set([429, 500, 502, 503, 504]);

/**
 * Node's error codes for a connection that failed or dropped. client-node 1.4 calls the
 * API through node-fetch 2, whose FetchError (type "system") copies the code of the socket
 * error; "socket hang up" is ECONNRESET. EAI_AGAIN: DNS briefly failing to resolve the
 * API server's name.
 */
const TRANSIENT_NETWORK_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EAI_AGAIN"]);

/** Errors are wrapped with { cause } on their way up; look a few levels down, never loop. */
function* causes(e: unknown): Generator<unknown> {
  for (let depth = 0; depth < 8 && e !== undefined && e !== null; depth++) {
    yield e;
    e = (e as { cause?: unknown }).cause;
  }
}

function networkCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && TRANSIENT_NETWORK_CODES.has(code) ? code : undefined;
}

/** The API failure behind `e` (itself or a cause): an ApiException or a dropped connection. */
function apiFailure(e: unknown): { api: ApiException<unknown> } | { network: Error & { code: string } } | undefined {
  for (const c of causes(e)) {
    if (c instanceof ApiException) return { api: c as ApiException<unknown> };
    if (c instanceof Error && networkCode(c)) return { network: c as Error & { code: string } };
  }
  return undefined;
}

/** Whether running the decision again may succeed: a 429/5xx answer or a dropped connection, anywhere in the cause chain. */
export function isTransient(e: unknown): boolean {
  const f = apiFailure(e);
  if (!f) return false;
  return "api" in f ? TRANSIENT_STATUSES.has(f.api.code) : true;
}

/**
 * How long the API server asked us to wait, in ms: the Retry-After header (seconds or an
 * HTTP date), else the Status body's details.retryAfterSeconds; undefined when it said nothing.
 */
export function retryAfterMs(e: unknown, now: number = Date.now()): number | undefined {
  const f = apiFailure(e);
  if (!f || !("api" in f)) return undefined;
  const headers = (f.api.headers ?? {}) as Record<string, string | undefined>;
  const header = Object.entries(headers).find(([k]) => k.toLowerCase() === "retry-after")?.[1]?.trim();
  if (header) {
    if (/^\d+$/.test(header)) return Number(header) * 1000;
    const at = Date.parse(header);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const seconds = statusBody(f.api)?.details?.retryAfterSeconds;
  return typeof seconds === "number" && seconds >= 0 ? seconds * 1000 : undefined;
}

/** What the API server did, for a sentence: `answered 429 TooManyRequests "…"` or `could not be reached (ECONNREFUSED …)`. */
function whatTheApiServerDid(e: unknown): string {
  const f = apiFailure(e);
  if (!f) return `failed: ${e instanceof Error ? e.message : String(e)}`;
  if ("api" in f) {
    const message = statusBody(f.api)?.message;
    return `answered ${f.api.code} ${apiReason(f.api)}${message ? ` ${JSON.stringify(message)}` : ""}`;
  }
  // node-fetch: "request to https://… failed, reason: connect ECONNREFUSED 10.0.0.1:443"
  const reason = /reason: (.*)$/.exec(f.network.message)?.[1] ?? f.network.message;
  return `could not be reached (${reason.includes(f.network.code) ? reason : `${f.network.code}: ${reason}`})`;
}

/**
 * Any failure in one line for a message a user reads: an ApiException as
 * `HTTP 403 Forbidden: …` (never client-node's dump of headers and body), a dropped
 * connection as what happened to it, anything else by its message.
 */
export function describeError(e: unknown): string {
  if (e instanceof ApiException) return describeApiError(e as ApiException<unknown>);
  if (networkCode(e)) return `the API server ${whatTheApiServerDid(e)}`;
  const text = e instanceof Error ? e.message : String(e);
  return text.replace(/\s*\n\s*/g, " ");
}

/** The retry loop gave up on a transient failure; the message is the one sentence a user sees. */
export class ApiUnavailableError extends Error {
  override name = "ApiUnavailableError";
  constructor(
    message: string,
    readonly attempts: number,
    options: { cause: unknown },
  ) {
    super(message, options);
  }
}

export interface RetryOptions {
  /** The whole budget, first attempt included: no back-off ends after it (the caller's own timeout is a bit longer). */
  deadlineMs: number;
  /** Upper bound of the first back-off; it doubles per attempt, up to maxDelayMs (full jitter). */
  baseDelayMs: number;
  maxDelayMs?: number;
  /** A bound besides the deadline, should attempts fail in no time at all. */
  maxAttempts?: number;
  /** Injected by tests: time, sleeping and the jitter. */
  clock?: { now(): number; sleep(ms: number): Promise<void>; random(): number };
}

const realClock = { now: () => Date.now(), sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)), random: Math.random };

/**
 * Runs `fn` (a whole decision: read, decide, compare-and-swap) and runs it again after a
 * transient API failure, with full-jitter exponential back-off that waits at least as long
 * as the API server asked (Retry-After), until `deadlineMs` would be passed. Then it throws
 * ApiUnavailableError, one sentence: `<what>: the API server answered 429 TooManyRequests
 * "storage is (re)initializing" for 4.1 s; retry shortly`. A raw ApiException that is not
 * transient (403, 422, …) becomes `<what>: HTTP 403 Forbidden: …`; every other error
 * (the decision's own, e.g. a CNI error) propagates unchanged.
 */
export async function withTransientRetry<T>(what: string, fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  const clock = o.clock ?? realClock;
  const { maxDelayMs = 1_000, maxAttempts = 50 } = o;
  const start = clock.now();
  for (let attempt = 1; ; attempt++) {
    const began = clock.now();
    try {
      return await fn();
    } catch (e) {
      // The next attempt may take as long as this one did: start it only if that still ends
      // before the deadline (the caller's own timeout is close behind it).
      const took = clock.now() - began;
      if (!isTransient(e)) {
        if (e instanceof ApiException) throw new Error(`${what}: ${describeApiError(e as ApiException<unknown>)}`, { cause: e });
        throw e;
      }
      const elapsed = clock.now() - start;
      const asked = retryAfterMs(e, clock.now());
      const delay = Math.max(asked ?? 0, clock.random() * Math.min(maxDelayMs, o.baseDelayMs * 2 ** (attempt - 1)));
      if (attempt >= maxAttempts || elapsed + delay + took >= o.deadlineMs) {
        const during = attempt > 1 ? ` for ${(elapsed / 1000).toFixed(1)} s` : "";
        // A wait longer than pinpool may ever take is worth telling; a second or two is "shortly".
        const then = asked !== undefined && asked >= o.deadlineMs ? `retry in ${Math.ceil(asked / 1000)} s, as it asks` : "retry shortly";
        throw new ApiUnavailableError(`${what}: the API server ${whatTheApiServerDid(e)}${during}; ${then}`, attempt, { cause: e });
      }
      await clock.sleep(delay);
    }
  }
}
