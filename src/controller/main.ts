/**
 * pinpool-controller: serves the admission webhooks (every replica) and its metrics.
 * Configuration: PINPOOL_* environment variables (src/config/controller.ts).
 */
import Fastify from "fastify";
import { loadControllerConfig } from "../config/controller.js";
import { loadKubeConfig } from "../k8s/client.js";
import { WebhookMetrics } from "../metrics/webhook.js";
import { buildWebhookServer } from "../webhook/server.js";
import { startCountReconciler } from "./count-reconciler.js";
import { buildAdmitters } from "./webhooks.js";

const config = loadControllerConfig();
const metrics = new WebhookMetrics();
const kc = loadKubeConfig();
const admitters = buildAdmitters(kc, { namespace: config.namespace, ledgerName: config.ledgerName, metrics });
const webhook = await buildWebhookServer({ certDir: config.certDir, ...admitters, metrics, logger: { level: config.logLevel } });
await webhook.app.listen({ host: config.webhookHost, port: config.webhookPort });

// Metrics on their own plain-HTTP port: Prometheus needs no client certificate, and the
// webhook port stays TLS-only.
const metricsServer = Fastify({ logger: false });
metricsServer.get("/metrics", async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
await metricsServer.listen({ host: config.webhookHost, port: config.metricsPort });
const stopReconciler = await startCountReconciler(kc, webhook.app.log);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    stopReconciler();
    void Promise.all([webhook.close(), metricsServer.close()]).then(() => process.exit(0));
  });
}
