/**
 * pinpool-agent: one per node (hostNetwork). Serves the CNI plugin on a root-only unix
 * socket and its metrics on a plain-HTTP port. Configuration: PINPOOL_NODE_NAME (required),
 * PINPOOL_AGENT_SOCKET (default /run/pinpool/agent.sock), PINPOOL_AGENT_METRICS_PORT (9091);
 * PINPOOL_AGENT_ENDPOINT_DELAY_MS delays SpiderEndpoint writes, for the crash test only.
 */
import * as k8s from "@kubernetes/client-node";
import Fastify from "fastify";
import { loadKubeConfig } from "../k8s/client.js";
import { AgentMetrics } from "../metrics/agent.js";
import { NodeCaches } from "./caches.js";
import { DEFAULT_ADD_WAIT_MS, Ipam } from "./ipam.js";
import { startAgentServer } from "./server.js";

const node = process.env.PINPOOL_NODE_NAME;
if (!node) {
  console.error("pinpool-agent: PINPOOL_NODE_NAME is not set; set it to the node's name (the DaemonSet uses the downward API spec.nodeName)");
  process.exit(2);
}
/** PINPOOL_ADD_WAIT_SECONDS: how long an ADD on full pools waits for a deleted pod's address (0-80; default 60). */
function addWaitSeconds(): number {
  const raw = process.env.PINPOOL_ADD_WAIT_SECONDS;
  if (raw === undefined || raw === "") return DEFAULT_ADD_WAIT_MS / 1000;
  const n = Number(raw);
  // Under the plugin's 90 s deadline for the agent's answer, with room for the claim itself.
  if (!Number.isFinite(n) || n < 0 || n > 80) {
    console.error(`pinpool-agent: PINPOOL_ADD_WAIT_SECONDS=${JSON.stringify(raw)}: expected a number of seconds from 0 to 80`);
    process.exit(1);
  }
  return n;
}

const socket = process.env.PINPOOL_AGENT_SOCKET || "/run/pinpool/agent.sock";
const metricsPort = Number(process.env.PINPOOL_AGENT_METRICS_PORT || 9091);
const kc = loadKubeConfig();
const metrics = new AgentMetrics();
// The server's logger, once it exists (nothing logs before the socket opens).
const log = { error: (o: object, m: string): void => app.log.error(o, m), info: (o: object, m: string): void => app.log.info(o, m) };
const caches = new NodeCaches(kc, node, (what, e) => log.error({ err: e, what }, "watch failed; reading from the API server until it is back"));
const ipam = new Ipam({ core: kc.makeApiClient(k8s.CoreV1Api), apps: kc.makeApiClient(k8s.AppsV1Api), custom: kc.makeApiClient(k8s.CustomObjectsApi), node, metrics, caches, log, addWaitMs: addWaitSeconds() * 1000, endpointDelayMs: Number(process.env.PINPOOL_AGENT_ENDPOINT_DELAY_MS || 0) });
const app = await startAgentServer(socket, ipam, metrics, { level: process.env.PINPOOL_LOG_LEVEL || "info" });
// Until the caches are live, every read goes to the API server: correct, only slower.
await caches.start();
const metricsServer = Fastify({ logger: false });
metricsServer.get("/metrics", async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
await metricsServer.listen({ host: process.env.PINPOOL_AGENT_METRICS_HOST || "0.0.0.0", port: metricsPort });
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  // Queued endpoint writes finish first (the controller would restore them, but later).
  process.once(signal, () => void Promise.all([app.close(), metricsServer.close()]).then(() => ipam.endpoints.drain()).then(() => caches.stop()).then(() => process.exit(0)));
}
