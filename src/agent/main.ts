/**
 * pinpool-agent: one per node (hostNetwork). Serves the CNI plugin on a root-only unix
 * socket and its metrics on a plain-HTTP port. Configuration: PINPOOL_NODE_NAME (required),
 * PINPOOL_AGENT_SOCKET (default /run/pinpool/agent.sock), PINPOOL_AGENT_METRICS_PORT (9091).
 */
import * as k8s from "@kubernetes/client-node";
import Fastify from "fastify";
import { loadKubeConfig } from "../k8s/client.js";
import { AgentMetrics } from "../metrics/agent.js";
import { Ipam } from "./ipam.js";
import { startAgentServer } from "./server.js";

const node = process.env.PINPOOL_NODE_NAME;
if (!node) {
  console.error("pinpool-agent: PINPOOL_NODE_NAME is not set; set it to the node's name (the DaemonSet uses the downward API spec.nodeName)");
  process.exit(2);
}
const socket = process.env.PINPOOL_AGENT_SOCKET || "/run/pinpool/agent.sock";
const metricsPort = Number(process.env.PINPOOL_AGENT_METRICS_PORT || 9091);
const kc = loadKubeConfig();
const metrics = new AgentMetrics();
const ipam = new Ipam(kc.makeApiClient(k8s.CoreV1Api), kc.makeApiClient(k8s.AppsV1Api), kc.makeApiClient(k8s.CustomObjectsApi), node, metrics);
const app = await startAgentServer(socket, ipam, metrics, { level: process.env.PINPOOL_LOG_LEVEL || "info" });
const metricsServer = Fastify({ logger: false });
metricsServer.get("/metrics", async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
await metricsServer.listen({ host: process.env.PINPOOL_AGENT_METRICS_HOST || "0.0.0.0", port: metricsPort });
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => void Promise.all([app.close(), metricsServer.close()]).then(() => process.exit(0)));
}
