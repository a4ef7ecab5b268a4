import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { storageReinitializing } from "../fixtures/api-errors.js";
import { expect } from "chai";
import { repoRoot, waitFor } from "../../scripts/cluster/local.js";
import { WebhookMetrics } from "../../src/metrics/webhook.js";
import { allow } from "../../src/api/verdict.js";
import type { AdmissionRequest } from "../../src/webhook/admission.js";
import { buildWebhookServer } from "../../src/webhook/server.js";
import { loadReview } from "../fixtures/load.js";

/** The transport over real TLS sockets; the decisions behind it are stand-ins here (they have their own tests). */
describe("webhook server transport (TLS, body limit, malformed reviews, certificate reload)", () => {
  let dir: string;
  let server: Awaited<ReturnType<typeof buildWebhookServer>>;
  let port: number;
  /** What /mutate does; each test sets it (the default stands for an unreachable API server). */
  let mutate: (req: AdmissionRequest) => Promise<ReturnType<typeof allow>> = () => Promise.reject(new Error("the API server is unreachable"));
  const generate = (out: string): void => {
    execFileSync("bash", [path.join(repoRoot, "webhook-certs/generate.sh"), out]);
  };

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "pinpool-tls-"));
    generate(dir);
    server = await buildWebhookServer({
      certDir: dir,
      validate: () => Promise.resolve(allow()),
      mutate: (req) => mutate(req),
      metrics: new WebhookMetrics(false),
      logger: false,
      // Short, so a test of giving up takes a fraction of a second (the real budget is 4 s).
      retry: { deadlineMs: 300, baseDelayMs: 5, maxDelayMs: 20 },
    });
    await server.app.listen({ host: "127.0.0.1", port: 0 });
    port = (server.app.server.address() as { port: number }).port;
  });

  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function post(urlPath: string, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        { host: "127.0.0.1", port, path: urlPath, method: "POST", ca: readFileSync(path.join(dir, "ca.crt")), headers: { "content-type": "application/json" } },
        (res) => {
          let data = "";
          res.on("data", (d: Buffer) => (data += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) as Record<string, unknown> }));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  function servedCertificate(): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
        resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? "");
        socket.end();
      });
      socket.on("error", reject);
    });
  }

  it("answers a review with its uid echoed (route ?timeout= query ignored)", async () => {
    const review = loadReview("spiderippool-create");
    const r = await post("/validate?timeout=5s", JSON.stringify(review));
    expect(r.status).to.equal(200);
    expect(r.json.response).to.deep.equal({ uid: (review.request as { uid: string }).uid, allowed: true });
  });

  it("rejects a malformed review with 400 naming the field", async () => {
    expect(await post("/validate", '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}')).to.deep.equal({
      status: 400,
      json: { error: "AdmissionReview request.kind: got nothing, expected {group, version, kind}" },
    });
    const garbage = await post("/validate", "{not json");
    expect(garbage.status).to.equal(400);
  });

  it("accepts a 7 MiB review (object and oldObject near the API server's limit)", async () => {
    const review = loadReview("spiderippool-update");
    (review.request as { object: { metadata: { annotations: object } } }).object.metadata.annotations = { big: "x".repeat(7 * 1024 * 1024) };
    expect((await post("/validate", JSON.stringify(review))).status).to.equal(200);
  });

  it("answers a failure that is not the user's with an in-band denial carrying the cause", async () => {
    const review = loadReview("deployment-create");
    const r = await post("/mutate", JSON.stringify(review));
    expect(r.json.response).to.deep.equal({
      uid: (review.request as { uid: string }).uid,
      allowed: false,
      status: { code: 500, reason: "InternalError", message: "pinpool could not decide: the API server is unreachable" },
    });
  });

  describe("while the API server restarts (429 storage is (re)initializing, as client-node throws it)", () => {
    const restarting = storageReinitializing;
    afterEach(() => (mutate = () => Promise.reject(new Error("the API server is unreachable"))));

    it("runs the decision again and answers its verdict once the API server is back", async () => {
      let calls = 0;
      mutate = () => (++calls < 3 ? Promise.reject(restarting()) : Promise.resolve(allow(undefined, ["reserved"])));
      const r = await post("/mutate", JSON.stringify(loadReview("deployment-create")));
      expect(r.json.response).to.deep.include({ allowed: true, warnings: ["reserved"] });
      expect(calls).to.equal(3);
    });

    it("when it stays down, denies with one sentence: what pinpool was doing and the API server's status, reason and message", async () => {
      mutate = () => Promise.reject(restarting());
      const r = await post("/mutate", JSON.stringify(loadReview("deployment-create")));
      const status = (r.json.response as { status: { code: number; message: string } }).status;
      expect(status.code).to.equal(500);
      expect(status.message).to.match(
        /^pinpool could not decide: reserving addresses for deployment default\/nginx: the API server answered 429 TooManyRequests "storage is \(re\)initializing" for \d\.\d s; retry shortly$/,
      );
    });

    it("allows a /scale with a warning instead (scale.pinpool.io fails open; the resize sweep repairs it)", async () => {
      mutate = () => Promise.reject(restarting());
      const r = await post("/mutate", JSON.stringify(loadReview("deployment-scale")));
      const response = r.json.response as { allowed: boolean; warnings: string[] };
      expect(response.allowed).to.equal(true);
      expect(response.warnings[0]).to.match(/^pinpool could not resize the pool now, pinpool-controller will within one sweep: resizing the address pool of deployment default\/nginx: the API server answered 429/);
    });
  });

  it("refuses TLS 1.1", async () => {
    const outcome = await new Promise<string>((resolve) => {
      const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, minVersion: "TLSv1", maxVersion: "TLSv1.1" }, () => resolve("connected"));
      socket.on("error", (e: Error) => resolve(e.message));
    });
    expect(outcome).to.not.equal("connected");
  });

  it("serves a new certificate after the folder changes, without a restart", async () => {
    const before = await servedCertificate();
    const fresh = mkdtempSync(path.join(os.tmpdir(), "pinpool-tls-next-"));
    generate(fresh);
    // As a Secret update does: the files in the watched folder are replaced.
    for (const f of ["tls.key", "tls.crt", "ca.crt"]) cpSync(path.join(fresh, f), path.join(dir, f));
    rmSync(fresh, { recursive: true, force: true });
    const expected = new X509Certificate(readFileSync(path.join(dir, "tls.crt"))).fingerprint256;
    expect(expected).to.not.equal(before);
    await waitFor("the new certificate to be served", 10_000, async () => ((await servedCertificate()) === expected ? true : undefined));
  });
});
