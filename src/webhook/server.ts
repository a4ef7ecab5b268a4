/**
 * The webhook HTTP transport: fastify over TLS. Routes parse the AdmissionReview, hand it
 * to the decision code, and answer through the one response builder. Nothing here decides.
 */
import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import Fastify, { type FastifyInstance, type FastifyReply, LogController } from "fastify";
import type { WebhookMetrics } from "../metrics/webhook.js";
import { type AdmissionRequest, AdmissionFormatError, buildAdmissionReview, parseAdmissionReview } from "./admission.js";
import type { Verdict } from "../api/verdict.js";

/** Decides one parsed request; throws only for failures that are not the user's (API down, …). */
export type Admit = (req: AdmissionRequest) => Promise<Verdict>;

export interface WebhookServerOptions {
  /** Folder holding tls.crt and tls.key (a mounted Secret: watched as a folder, never a subPath). */
  certDir: string;
  validate: Admit;
  mutate: Admit;
  metrics: WebhookMetrics;
  logger?: boolean | { level: string };
}

async function loadTls(certDir: string): Promise<{ cert: Buffer; key: Buffer }> {
  const [cert, key] = await Promise.all([readFile(path.join(certDir, "tls.crt")), readFile(path.join(certDir, "tls.key"))]);
  return { cert, key };
}

/** Body limit: the API server sends object and oldObject, each up to 3 MiB; controller-runtime allows 7 MiB. */
const BODY_LIMIT = 8 * 1024 * 1024;

export async function buildWebhookServer(o: WebhookServerOptions): Promise<{ app: FastifyInstance; close: () => Promise<void> }> {
  const tls = await loadTls(o.certDir);
  const app = Fastify({
    https: { ...tls, minVersion: "TLSv1.2" },
    bodyLimit: BODY_LIMIT,
    logger: o.logger ?? { level: "info" },
    // One line per decision that matters (denials, failures) instead of two per request.
    logController: new LogController({ disableRequestLogging: true }),
    // Keep-alive beyond the API server's idle timeout, so connections are reused.
    keepAliveTimeout: 90_000,
  });

  // Hot reload: a mounted Secret changes by an atomic swap of the folder's ..data link.
  let reload: NodeJS.Timeout | undefined;
  const watcher: FSWatcher = watch(o.certDir, () => {
    clearTimeout(reload);
    reload = setTimeout(() => {
      loadTls(o.certDir)
        .then((next) => {
          app.server.setSecureContext({ ...next, minVersion: "TLSv1.2" });
          app.log.info({ certDir: o.certDir }, "serving certificate reloaded");
        })
        .catch((e: unknown) => app.log.error({ err: e, certDir: o.certDir }, "serving certificate reload failed; keeping the old one"));
    }, 200);
  });

  const answer = async (webhook: "validate" | "mutate", admit: Admit, body: unknown, reply: FastifyReply): Promise<unknown> => {
    let req: AdmissionRequest;
    try {
      req = parseAdmissionReview(body);
    } catch (e) {
      if (e instanceof AdmissionFormatError) return reply.code(400).send({ error: e.message });
      throw e;
    }
    const labels = { webhook, resource: req.subResource ? `${req.resource.resource}/${req.subResource}` : req.resource.resource, operation: req.operation };
    const stop = o.metrics.duration.startTimer(labels);
    let verdict: Verdict;
    try {
      verdict = await admit(req);
    } catch (e) {
      // Not the user's fault (API server unreachable, too many concurrent writers): an
      // in-band denial with the cause, so kubectl shows what happened and the user can retry.
      app.log.error({ err: e, uid: req.uid, namespace: req.namespace, name: req.name, operation: req.operation, resource: labels.resource }, "admission failed");
      verdict = { allowed: false, code: 500, reason: "InternalError", message: `pinpool could not decide: ${(e as Error).message}` };
      o.metrics.requests.inc({ ...labels, result: "error" });
      stop();
      return buildAdmissionReview(req.uid, verdict);
    }
    stop();
    o.metrics.requests.inc({ ...labels, result: verdict.allowed ? "allowed" : "denied" });
    if (!verdict.allowed) {
      app.log.info({ uid: req.uid, namespace: req.namespace, name: req.name, operation: req.operation, resource: labels.resource, message: verdict.message }, "denied");
    }
    return buildAdmissionReview(req.uid, verdict);
  };

  app.post("/validate", (request, reply) => answer("validate", o.validate, request.body, reply));
  app.post("/mutate", (request, reply) => answer("mutate", o.mutate, request.body, reply));
  // The pid lets a supervisor tell this process from another one holding the port.
  app.get("/healthz", () => ({ status: "ok", pid: process.pid }));
  app.get("/readyz", () => ({ status: "ok" }));

  return {
    app,
    close: async () => {
      clearTimeout(reload);
      watcher.close();
      await app.close();
    },
  };
}
