/**
 * pinpool-controller: every replica serves the admission webhooks and its metrics; the one
 * holding the Lease runs the reconcilers. Configuration: PINPOOL_* environment variables
 * (src/config/controller.ts).
 */
import * as k8s from "@kubernetes/client-node";
import Fastify, { type FastifyBaseLogger } from "fastify";
import { loadControllerConfig } from "../config/controller.js";
import { loadKubeConfig } from "../k8s/client.js";
import { ownUserName } from "../k8s/self.js";
import { ReconcileMetrics } from "../metrics/reconcile.js";
import { AllocationWriter } from "../reservation/allocations.js";
import { WebhookMetrics } from "../metrics/webhook.js";
import { buildWebhookServer } from "../webhook/server.js";
import { ApiServerSources } from "../webhook/sources.js";
import { LeaderElector } from "./lease.js";
import { Reconciler } from "./reconciler.js";
import { buildAdmitters } from "./webhooks.js";

const config = loadControllerConfig();
const metrics = new WebhookMetrics();
const reconcileMetrics = new ReconcileMetrics(metrics.registry);
const kc = loadKubeConfig();
// The admitters log through the webhook server's logger, which exists only once it is built.
const logTo: { log?: FastifyBaseLogger } = {};
const admitters = buildAdmitters(kc, {
  self: await ownUserName(kc),
  namespace: config.namespace,
  ledgerName: config.ledgerName,
  metrics,
  lapseMs: config.pendingClaimSeconds * 1000,
  log: { info: (f, m) => logTo.log?.info(f, m), warn: (f, m) => logTo.log?.warn(f, m) },
});
// Admissions decide on the subnet ledgers' cache: it must hold them before the first review.
await admitters.stores.start();
const webhook = await buildWebhookServer({
  certDir: config.certDir,
  validate: admitters.validate,
  mutate: admitters.mutate,
  metrics,
  logger: { level: config.logLevel },
  ...(config.clientCAFile
    ? { clientAuth: { caFile: config.clientCAFile, names: config.clientNames } }
    : { rateLimit: config.rateLimit, onFlood: (source: string) => admitters.pending.lapseSource(source), ...(config.apiServers.length ? { apiServers: ApiServerSources.parse(config.apiServers.join(",")) } : {}) }),
});
await webhook.app.listen({ host: config.webhookHost, port: config.webhookPort });
const log = webhook.app.log;
logTo.log = log;
if (!config.clientCAFile) {
  log.warn(
    { rateLimit: config.rateLimit },
    `mutual TLS is off (PINPOOL_CLIENT_AUTH=none): anyone who reaches the webhook port can send reviews; their claims lapse and sources are rate-limited, but only mutual TLS keeps them out (README "Mutual TLS")${config.apiServers.length ? "" : "; set PINPOOL_WEBHOOK_API_SERVERS to the API servers' addresses, or a burst of genuine admissions is rate-limited as a flood"}`,
  );
}

// Metrics on their own plain-HTTP port: Prometheus needs no client certificate, and the
// webhook port stays TLS-only.
const metricsServer = Fastify({ logger: false });
metricsServer.get("/metrics", async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
await metricsServer.listen({ host: config.webhookHost, port: config.metricsPort });

let elector: LeaderElector | undefined;
if (config.reconcilers) {
  const reconciler = new Reconciler(
    { ...admitters.clients, kc, stores: admitters.stores, allocations: new AllocationWriter(admitters.clients.custom, admitters.cas), reserved: admitters.reserved, metrics: reconcileMetrics, log },
    { graceMs: config.graceSeconds * 1000, intervalMs: config.resyncSeconds * 1000, fullResyncMs: config.fullResyncSeconds * 1000 },
  );
  elector = new LeaderElector(
    kc.makeApiClient(k8s.CoordinationV1Api),
    { namespace: config.namespace, name: config.leaseName, identity: config.identity },
    {
      // The count reconciler runs with the reconcilers, on the same mirror.
      onStartedLeading: () => reconciler.start(),
      onStoppedLeading: () => void reconciler.stop(),
    },
    log,
    { durationSeconds: config.leaseDurationSeconds, retrySeconds: Math.max(1, config.leaseDurationSeconds / 7), renewDeadlineSeconds: (config.leaseDurationSeconds * 2) / 3 },
  );
  elector.start();
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    admitters.pending.stop();
    void Promise.all([elector?.stop(), webhook.close(), metricsServer.close()]).then(() => process.exit(0));
  });
}
