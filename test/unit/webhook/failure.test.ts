import { readFileSync } from "node:fs";
import path from "node:path";
import { ApiException } from "@kubernetes/client-node";
import { expect } from "chai";
import YAML from "yaml";
import { withTransientRetry } from "../../../src/k8s/transient.js";
import { failureVerdict, reviewPurpose } from "../../../src/webhook/failure.js";
import { WEBHOOK_RETRY } from "../../../src/webhook/server.js";
import { loadRequest } from "../../fixtures/load.js";

/** The 429 the API server answers while its storage (re)initializes, as client-node 1.4 throws it. */
const restarting = (): ApiException<unknown> =>
  new ApiException<unknown>(
    429,
    "Unknown API Status Code!",
    '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"storage is (re)initializing","reason":"TooManyRequests","details":{"retryAfterSeconds":1},"code":429}',
    { "audit-id": "5d2c7f0e-9a1b-4c3e-8f6d-0a1b2c3d4e5f", "retry-after": "1", "content-type": "application/json" },
  );

/** What the server hands failureVerdict after the retry loop gave up. */
async function gaveUp(name: string): Promise<{ req: ReturnType<typeof loadRequest>; error: unknown }> {
  const req = loadRequest(name);
  let t = 0; // time moves only by the back-offs
  const clock = { now: () => t, sleep: (ms: number) => Promise.resolve(void (t += ms)), random: () => 0 };
  const error = await withTransientRetry(reviewPurpose(req), () => Promise.reject(restarting()), { ...WEBHOOK_RETRY, clock }).catch((e: unknown) => e);
  return { req, error };
}

describe("webhook/failure", () => {
  it("says what pinpool was deciding", () => {
    expect(reviewPurpose(loadRequest("deployment-create"))).to.equal("reserving addresses for deployment default/nginx");
    expect(reviewPurpose(loadRequest("deployment-scale"))).to.equal("resizing the address pool of deployment default/nginx");
    expect(reviewPurpose(loadRequest("statefulset-create"))).to.match(/^reserving addresses for statefulset default\/\S+$/);
    expect(reviewPurpose(loadRequest("spiderippool-create"))).to.match(/^checking SpiderIPPool "\S+"$/);
    expect(reviewPurpose(loadRequest("spiderippool-delete"))).to.match(/^checking the deletion of SpiderIPPool "\S+"$/);
  });

  it("denies a workload it could not decide with one sentence: no client-node dump, no headers", async () => {
    const { req, error } = await gaveUp("deployment-create");
    const verdict = failureVerdict(req, error);
    expect(verdict).to.deep.equal({
      allowed: false,
      code: 500,
      reason: "InternalError",
      message: 'pinpool could not decide: reserving addresses for deployment default/nginx: the API server answered 429 TooManyRequests "storage is (re)initializing" for 3.0 s; retry shortly',
    });
  });

  it("never shows the raw ApiException message, even when one reaches it unwrapped", () => {
    const verdict = failureVerdict(loadRequest("deployment-create"), restarting());
    expect(verdict).to.deep.include({ allowed: false, message: "pinpool could not decide: HTTP 429 TooManyRequests: storage is (re)initializing" });
  });

  it("allows a /scale it could not decide, with a warning (the resize sweep repairs it; scale.pinpool.io fails open)", async () => {
    const { req, error } = await gaveUp("deployment-scale");
    const verdict = failureVerdict(req, error);
    expect(verdict.allowed).to.equal(true);
    const warnings = (verdict as { warnings: string[] }).warnings;
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/^pinpool could not resize the pool now, pinpool-controller will within one sweep: resizing the address pool of deployment default\/nginx: the API server answered 429/);
    expect(warnings[0]!.length).to.be.at.most(256);
  });

  it("gives up before the API server stops waiting for the webhook", () => {
    const doc = YAML.parseAllDocuments(readFileSync(path.join(import.meta.dirname, "../../../manifests/webhooks/mutating.yaml"), "utf8"))[0]!.toJSON() as { webhooks: Array<{ timeoutSeconds: number }> };
    const validating = YAML.parse(readFileSync(path.join(import.meta.dirname, "../../../manifests/webhooks/validating.yaml"), "utf8")) as { webhooks: Array<{ timeoutSeconds: number }> };
    const shortest = Math.min(...[...doc.webhooks, ...validating.webhooks].map((w) => w.timeoutSeconds));
    expect(WEBHOOK_RETRY.deadlineMs).to.be.below(shortest * 1000);
  });
});
