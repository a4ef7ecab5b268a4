import http from "node:http";
import net from "node:net";
import * as k8s from "@kubernetes/client-node";
import { ApiException } from "@kubernetes/client-node";
import { expect } from "chai";
import { CasExhaustedError } from "../../../src/k8s/cas.js";
import { apiMessage, describeApiError } from "../../../src/k8s/errors.js";
import { ApiUnavailableError, describeError, isTransient, retryAfterMs, withTransientRetry } from "../../../src/k8s/transient.js";

/** A metav1.Status body as the API server sends it. */
const status = (code: number, reason: string, message: string, details?: object): string =>
  JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details ? { details } : {}), code });

/** As client-node 1.4 builds it for a status its spec does not list: the body is the response text. */
const apiException = (code: number, body: string | undefined, headers: Record<string, string> = {}): ApiException<unknown> =>
  new ApiException<unknown>(code, "Unknown API Status Code!", body, { "audit-id": "8f0c6f7e-1", "content-type": "application/json", ...headers });

const restarting = (): ApiException<unknown> => apiException(429, status(429, "TooManyRequests", "storage is (re)initializing", { retryAfterSeconds: 1 }), { "retry-after": "1" });

/** A clock that only moves when slept on (and by `costMs` per attempt, the time a call takes). */
function fakeClock(random = 0.5): { now(): number; sleep(ms: number): Promise<void>; random(): number; sleeps: number[]; advance(ms: number): void } {
  let t = 1_000_000;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: (ms) => {
      sleeps.push(ms);
      t += ms;
      return Promise.resolve();
    },
    random: () => random,
    sleeps,
    advance: (ms) => (t += ms),
  };
}

/** Real client-node errors: calls to a local HTTP server that answers `reply`, or to a socket that does. */
async function clientNodeError(listen: (port: number) => string | undefined, serve?: http.RequestListener | ((s: net.Socket) => void), kind: "http" | "net" = "http"): Promise<unknown> {
  const server = kind === "http" ? http.createServer(serve as http.RequestListener) : net.createServer(serve as (s: net.Socket) => void);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = listen((server.address() as net.AddressInfo).port) ?? "";
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: "c", server: url, skipTLSVerify: true }], users: [{ name: "u" }], contexts: [{ name: "c", cluster: "c", user: "u" }], currentContext: "c" });
  try {
    await kc.makeApiClient(k8s.CoreV1Api).readNamespace({ name: "t" });
    return undefined;
  } catch (e) {
    return e;
  } finally {
    server.close();
  }
}

describe("k8s/transient: what client-node 1.4 throws", () => {
  it("a 429 answer is an ApiException with the Status body as text and the headers: transient, Retry-After read", async () => {
    const e = await clientNodeError(
      (port) => `http://127.0.0.1:${port}`,
      (_req, res) => {
        res.writeHead(429, { "content-type": "application/json", "retry-after": "2" });
        res.end(status(429, "TooManyRequests", "storage is (re)initializing", { retryAfterSeconds: 1 }));
      },
    );
    expect(e).to.be.instanceOf(ApiException);
    expect(isTransient(e)).to.equal(true);
    expect(retryAfterMs(e)).to.equal(2000); // the header wins over the body's details
  });

  it("a connection reset (socket hang up) and a refused connection are transient", async () => {
    const reset = await clientNodeError((port) => `http://127.0.0.1:${port}`, (s: net.Socket) => s.destroy(), "net");
    expect((reset as Error).message).to.include("socket hang up");
    expect(isTransient(reset)).to.equal(true);
    expect(describeError(reset)).to.equal("the API server could not be reached (ECONNRESET: socket hang up)");
    const refused = await clientNodeError(() => "http://127.0.0.1:1");
    expect(isTransient(refused)).to.equal(true);
    expect(describeError(refused)).to.equal("the API server could not be reached (connect ECONNREFUSED 127.0.0.1:1)");
  });
});

describe("k8s/transient isTransient", () => {
  for (const code of [429, 500, 502, 503, 504]) {
    it(`retries HTTP ${code}`, () => expect(isTransient(apiException(code, status(code, "x", "y")))).to.equal(true));
  }
  for (const code of [400, 401, 403, 404, 409, 422, 501]) {
    it(`does not retry HTTP ${code}`, () => expect(isTransient(apiException(code, status(code, "x", "y")))).to.equal(false));
  }

  it("looks through { cause } wrappers, but not past a non-transient answer", () => {
    expect(isTransient(new Error('creating SpiderIPPool "p" failed', { cause: apiException(503, undefined) }))).to.equal(true);
    expect(isTransient(new CasExhaustedError("ledger: still conflicting", { cause: apiException(409, status(409, "Conflict", "modified")) }))).to.equal(false);
  });

  it("retries only the connection errors it knows", () => {
    const err = (code: string): Error => Object.assign(new Error(`connect ${code}`), { code });
    for (const code of ["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"]) expect(isTransient(err(code)), code).to.equal(true);
    for (const code of ["ENOENT", "CERT_HAS_EXPIRED", "ERR_INVALID_URL"]) expect(isTransient(err(code)), code).to.equal(false);
    expect(isTransient(new Error("bug"))).to.equal(false);
    expect(isTransient(undefined)).to.equal(false);
  });
});

describe("k8s/transient retryAfterMs", () => {
  it("reads the Retry-After header in seconds or as an HTTP date, else the Status details", () => {
    expect(retryAfterMs(apiException(429, status(429, "TooManyRequests", "x"), { "Retry-After": "3" }))).to.equal(3000);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterMs(apiException(503, undefined, { "retry-after": "Thu, 01 Jan 2026 00:00:05 GMT" }), now)).to.equal(5000);
    expect(retryAfterMs(apiException(429, status(429, "TooManyRequests", "x", { retryAfterSeconds: 7 })))).to.equal(7000);
    expect(retryAfterMs(apiException(503, status(503, "ServiceUnavailable", "x")))).to.equal(undefined);
    expect(retryAfterMs(Object.assign(new Error("reset"), { code: "ECONNRESET" }))).to.equal(undefined);
  });
});

describe("k8s/errors describeApiError, apiMessage", () => {
  it("says status, reason and the API server's message: no headers, no body dump", () => {
    const conflict = apiException(409, status(409, "Conflict", 'Operation cannot be fulfilled on configmaps "pinpool-ledger": the object has been modified'));
    expect(describeApiError(conflict)).to.equal('HTTP 409 Conflict: Operation cannot be fulfilled on configmaps "pinpool-ledger": the object has been modified');
    expect(describeError(conflict)).to.equal(describeApiError(conflict));
    expect(conflict.message).to.include("Headers"); // what client-node makes of it, and what must never reach a user
  });

  it("falls back to HTTP's words, and to the first line of a body that is not a Status", () => {
    const unauthorized = new ApiException<unknown>(401, "Unauthorized", undefined, { "audit-id": "a" });
    expect(describeApiError(unauthorized)).to.equal("HTTP 401 Unauthorized");
    expect(apiMessage(unauthorized)).to.equal("Unauthorized");
    const proxy = apiException(502, "Bad Gateway from the load balancer\n<html>…</html>");
    expect(describeApiError(proxy)).to.equal("HTTP 502 BadGateway: Bad Gateway from the load balancer");
  });
});

describe("k8s/transient withTransientRetry", () => {
  const what = "reserving addresses for deployment t/nginx";

  it("runs the decision again after transient failures, waiting at least what Retry-After asks", async () => {
    const clock = fakeClock();
    let calls = 0;
    const result = await withTransientRetry(
      what,
      () => {
        calls++;
        return calls < 3 ? Promise.reject(restarting()) : Promise.resolve("reserved");
      },
      { deadlineMs: 4_000, baseDelayMs: 50, clock },
    );
    expect(result).to.equal("reserved");
    expect(calls).to.equal(3);
    expect(clock.sleeps).to.deep.equal([1000, 1000]);
  });

  it("backs off exponentially with full jitter, capped", async () => {
    const clock = fakeClock(0.5);
    let calls = 0;
    await withTransientRetry(
      what,
      () => (++calls < 7 ? Promise.reject(apiException(503, undefined)) : Promise.resolve()),
      { deadlineMs: 60_000, baseDelayMs: 100, maxDelayMs: 1_000, clock },
    );
    expect(clock.sleeps).to.deep.equal([50, 100, 200, 400, 500, 500]);
  });

  it("gives up before the deadline with one sentence: what pinpool was doing, the status, reason and message", async () => {
    const clock = fakeClock(0.5);
    const last = restarting();
    let thrown: unknown;
    try {
      await withTransientRetry(
        what,
        () => {
          clock.advance(100); // each call takes 100 ms
          return Promise.reject(last);
        },
        { deadlineMs: 4_000, baseDelayMs: 50, clock },
      );
    } catch (e) {
      thrown = e;
    }
    expect(thrown).to.be.instanceOf(ApiUnavailableError);
    const e = thrown as ApiUnavailableError;
    expect(e.message).to.equal(`${what}: the API server answered 429 TooManyRequests "storage is (re)initializing" for 3.4 s; retry shortly`);
    expect(e.cause).to.equal(last);
    expect(e.attempts).to.equal(4);
    expect(clock.sleeps.reduce((a, b) => a + b, 0)).to.be.below(4_000);
  });

  it("starts no attempt that could outlast the deadline: after a 3.5 s attempt there is no second one within 4 s", async () => {
    const clock = fakeClock(0.5);
    let calls = 0;
    const slow = apiException(504, status(504, "Timeout", "the server was unable to return a response in the time allotted"));
    await withTransientRetry(
      what,
      () => {
        calls++;
        clock.advance(3_500);
        return Promise.reject(slow);
      },
      { deadlineMs: 4_000, baseDelayMs: 50, clock },
    ).catch(() => undefined);
    expect(calls).to.equal(1);
    expect(clock.sleeps).to.deep.equal([]);
  });

  it("gives up at once when the API server asks to wait past the deadline, saying how long", async () => {
    const clock = fakeClock();
    const e = apiException(429, status(429, "TooManyRequests", "too many requests, please try again later", { retryAfterSeconds: 10 }));
    let calls = 0;
    const outcome = await withTransientRetry(what, () => (calls++, Promise.reject(e)), { deadlineMs: 4_000, baseDelayMs: 50, clock }).catch((x: unknown) => x);
    expect((outcome as Error).message).to.equal(`${what}: the API server answered 429 TooManyRequests "too many requests, please try again later"; retry in 10 s, as it asks`);
    expect([calls, clock.sleeps.length]).to.deep.equal([1, 0]);
  });

  it("says so when the API server could not be reached", async () => {
    const clock = fakeClock();
    const reset = Object.assign(new Error("request to https://10.96.0.1/api/v1/namespaces/t failed, reason: socket hang up"), { code: "ECONNRESET" });
    const outcome = await withTransientRetry("allocating addresses for pod t/p", () => Promise.reject(reset), { deadlineMs: 1_000, baseDelayMs: 100, clock }).catch((x: unknown) => x);
    expect((outcome as Error).message).to.match(/^allocating addresses for pod t\/p: the API server could not be reached \(ECONNRESET: socket hang up\) for \d\.\d s; retry shortly$/);
  });

  it("is bounded in attempts even when failures take no time", async () => {
    const clock = fakeClock(0);
    let calls = 0;
    const outcome = await withTransientRetry(what, () => (calls++, Promise.reject(apiException(500, undefined))), { deadlineMs: 4_000, baseDelayMs: 50, maxAttempts: 5, clock }).catch((x: unknown) => x);
    expect(outcome).to.be.instanceOf(ApiUnavailableError);
    expect(calls).to.equal(5);
  });

  it("does not retry a refusal: a raw ApiException becomes one sentence, the decision's own errors pass unchanged", async () => {
    const clock = fakeClock();
    let calls = 0;
    const forbidden = apiException(403, status(403, "Forbidden", 'spiderippools.spiderpool.spidernet.io is forbidden: User "x" cannot create resource'));
    const refused = await withTransientRetry(what, () => (calls++, Promise.reject(forbidden)), { deadlineMs: 4_000, baseDelayMs: 50, clock }).catch((x: unknown) => x);
    expect((refused as Error).message).to.equal(`${what}: HTTP 403 Forbidden: spiderippools.spiderpool.spidernet.io is forbidden: User "x" cannot create resource`);
    expect((refused as Error).cause).to.equal(forbidden);
    class PoolExhausted extends Error {}
    const own = new PoolExhausted("SpiderIPPool p is exhausted");
    const passed = await withTransientRetry(what, () => (calls++, Promise.reject(own)), { deadlineMs: 4_000, baseDelayMs: 50, clock }).catch((x: unknown) => x);
    expect(passed).to.equal(own);
    expect([calls, clock.sleeps.length]).to.deep.equal([2, 0]);
  });
});
