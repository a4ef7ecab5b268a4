/**
 * The webhook HTTP transport: fastify over TLS. Routes parse the AdmissionReview, hand it
 * to the decision code, and answer through the one response builder. Nothing here decides.
 */
import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { PeerCertificate, TLSSocket } from "node:tls";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from "fastify";
import type { WebhookMetrics } from "../metrics/webhook.js";
import { type AdmissionRequest, AdmissionFormatError, buildAdmissionReview, parseAdmissionReview } from "./admission.js";
import type { Verdict } from "../api/verdict.js";
import { type RetryOptions, withTransientRetry } from "../k8s/transient.js";
import { failureVerdict, reviewPurpose } from "./failure.js";
import { type RateLimit, SourceRateLimiter } from "./rate-limit.js";
import type { ApiServerSources } from "./sources.js";

/**
 * Decides one parsed request from `source` (the caller's certificate name with mutual TLS,
 * else its address); throws only for failures that are not the user's (API down, …).
 */
export type Admit = (req: AdmissionRequest, source: string) => Promise<Verdict>;

/**
 * A decision that met a transient API failure (429 right after an API server restart, a
 * 5xx, a dropped connection) is run again, whole, for up to 4 s: under the webhooks'
 * timeoutSeconds of 5 (manifests/webhooks), so the user gets pinpool's answer rather than
 * the API server's "context deadline exceeded".
 */
export const WEBHOOK_RETRY: RetryOptions = { deadlineMs: 4_000, baseDelayMs: 50, maxDelayMs: 1_000 };

export interface WebhookServerOptions {
  /** Folder holding tls.crt and tls.key (a mounted Secret: watched as a folder, never a subPath). */
  certDir: string;
  validate: Admit;
  mutate: Admit;
  metrics: WebhookMetrics;
  logger?: boolean | { level: string };
  /**
   * Mutual TLS: only callers presenting a certificate signed by this CA (the API server's
   * client certificate, from its --admission-control-config-file) get a review answered.
   */
  clientAuth?: { caFile: string; names: string[] };
  /** Without clientAuth: each source address's review rate (PINPOOL_WEBHOOK_RATE, PINPOOL_WEBHOOK_BURST). */
  rateLimit?: RateLimit;
  /** A source went over its rate: its provisional claims are settled at once (PendingClaims.lapseSource). */
  onFlood?: (source: string) => void;
  /** Sources that are the API servers: not rate-limited (PINPOOL_WEBHOOK_API_SERVERS). */
  apiServers?: ApiServerSources;
  /** Retrying transient API failures; WEBHOOK_RETRY unless a test shortens it. */
  retry?: RetryOptions;
}

async function readClientCA(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    throw new Error(
      `mutual TLS (PINPOOL_CLIENT_AUTH=mtls, the default) needs the CA of the API server's webhook client certificate, but ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)}); webhook-certs/generate.sh makes client-ca.crt for the Secret pinpool-webhook-tls, or set PINPOOL_CLIENT_AUTH=none (README "Mutual TLS")`,
      { cause: e },
    );
  }
}

async function loadTls(certDir: string, clientCAFile?: string): Promise<{ cert: Buffer; key: Buffer; ca?: Buffer }> {
  const [cert, key, ca] = await Promise.all([
    readFile(path.join(certDir, "tls.crt")),
    readFile(path.join(certDir, "tls.key")),
    clientCAFile ? readClientCA(clientCAFile) : undefined,
  ]);
  return { cert, key, ...(ca ? { ca } : {}) };
}

/** A certificate's subject common name (a list, joined, when it has several). */
function commonName(certificate: PeerCertificate): string | undefined {
  const cn = certificate.subject?.CN;
  return Array.isArray(cn) ? cn.join(",") : cn;
}

/** What refuseCaller reads of a TLS socket. */
export interface CallerSocket {
  authorized: boolean;
  authorizationError?: Error;
  getPeerCertificate(): PeerCertificate;
}

/**
 * Why the caller may not have a review answered, or undefined when it may: with mutual
 * TLS on, the TLS handshake must have verified a client certificate against the CA, and
 * its common name must be one of `names` (when any are given).
 */

export function refuseCaller(socket: CallerSocket, names: readonly string[]): string | undefined {
  const certificate = socket.getPeerCertificate();
  // A resumed TLS session of a caller that sent no certificate reads as authorized (OpenSSL
  // keeps the verify result, X509_V_OK, of a handshake that verified nothing): no
  // certificate is no certificate, whatever `authorized` says.
  const presented = certificate !== null && typeof certificate === "object" && Object.keys(certificate).length > 0;
  if (!socket.authorized || !presented) {
    const why = socket.authorizationError ? String(socket.authorizationError) : "no client certificate";
    return `a client certificate signed by the API server's webhook client CA is required (${why})`;
  }
  const name = commonName(certificate);
  if (names.length > 0 && !names.includes(name ?? "")) return `client certificate CN ${JSON.stringify(name)} is not one of ${names.join(", ")}`;
  return undefined;
}

/** Body limit: the API server sends object and oldObject, each up to 3 MiB; controller-runtime allows 7 MiB. */
const BODY_LIMIT = 8 * 1024 * 1024;

export async function buildWebhookServer(o: WebhookServerOptions): Promise<{ app: FastifyInstance; close: () => Promise<void> }> {
  const clientCAFile = o.clientAuth?.caFile;
  const tls = await loadTls(o.certDir, clientCAFile);
  const app = Fastify({
    // The certificate is requested, and checked per route: health probes (kubelet) carry none.
    https: { ...tls, minVersion: "TLSv1.2", ...(clientCAFile ? { requestCert: true, rejectUnauthorized: false } : {}) },
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
      loadTls(o.certDir, clientCAFile)
        .then((next) => {
          app.server.setSecureContext({ ...next, minVersion: "TLSv1.2" });
          app.log.info({ certDir: o.certDir }, "serving certificate reloaded");
        })
        .catch((e: unknown) => app.log.error({ err: e, certDir: o.certDir }, "serving certificate reload failed; keeping the old one"));
    }, 200);
  });

  // Before the body is read: an unauthenticated or flooding caller never gets 8 MiB parsed.
  const limiter = !o.clientAuth && o.rateLimit ? new SourceRateLimiter(o.rateLimit) : undefined;
  // One log line per source and minute, not one per refused request of a flood.
  const quiet = new Map<string, number>();
  const logRefusal = (source: string, fields: object, message: string): void => {
    const now = Date.now();
    if ((quiet.get(source) ?? 0) > now) return;
    if (quiet.size > 1_000) quiet.clear();
    quiet.set(source, now + 60_000);
    app.log.warn({ remote: source, ...fields }, message);
  };
  const authenticate = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const refused = o.clientAuth && refuseCaller(request.raw.socket as TLSSocket, o.clientAuth.names);
    if (refused) {
      o.metrics.refused.inc({ reason: "unauthenticated" });
      logRefusal(request.ip, { url: request.url, reason: refused }, "review refused: caller not authenticated (logged once a minute per source)");
      await reply.code(401).send({ error: refused });
      return;
    }
    const wait = limiter && !o.apiServers?.includes(request.ip) ? limiter.take(request.ip) : 0;
    if (wait === 0) return;
    o.metrics.refused.inc({ reason: "rate_limited" });
    o.onFlood?.(request.ip);
    logRefusal(request.ip, { url: request.url }, `review refused: ${request.ip} is over its rate of ${o.rateLimit?.perSecond}/s (burst ${o.rateLimit?.burst}); its pending claims are settled now (logged once a minute per source)`);
    await reply
      .code(429)
      .header("retry-after", String(wait))
      .send({ error: `too many reviews from ${request.ip}: at most ${o.rateLimit?.perSecond} per second (burst ${o.rateLimit?.burst}); PINPOOL_WEBHOOK_RATE and PINPOOL_WEBHOOK_BURST set them` });
  };

  /** Who is asking: the verified certificate's name with mutual TLS, else the address. */
  const sourceOf = (request: FastifyRequest): string => {
    if (!o.clientAuth) return request.ip;
    return `cn=${commonName((request.raw.socket as TLSSocket).getPeerCertificate()) ?? ""}`;
  };

  const answer = async (webhook: "validate" | "mutate", admit: Admit, request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const body = request.body;
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
      // Decisions are compare-and-swaps on what they read: running one again is safe.
      const source = sourceOf(request);
      verdict = await withTransientRetry(reviewPurpose(req), () => admit(req, source), o.retry ?? WEBHOOK_RETRY);
    } catch (e) {
      // Not the user's fault (API server unavailable, too many concurrent writers): an
      // in-band denial with the cause in one sentence, so kubectl shows what happened and
      // the user can retry (a /scale is allowed instead: the resize sweep repairs it).
      app.log.error({ err: e, uid: req.uid, namespace: req.namespace, name: req.name, operation: req.operation, resource: labels.resource }, "admission failed");
      verdict = failureVerdict(req, e);
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

  app.post("/validate", { onRequest: authenticate }, (request, reply) => answer("validate", o.validate, request, reply));
  app.post("/mutate", { onRequest: authenticate }, (request, reply) => answer("mutate", o.mutate, request, reply));
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
