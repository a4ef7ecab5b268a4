/**
 * The agent's transport: fastify on a unix socket that only root can use (0600). Routes
 * parse the request, call the IPAM and answer in CNI's error shape on failure.
 */
import { chmod, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import Fastify, { type FastifyInstance, LogController } from "fastify";
import { type RetryOptions, describeError, withTransientRetry } from "../k8s/transient.js";
import type { AgentMetrics } from "../metrics/agent.js";
import type { Ipam } from "./ipam.js";
import { CNI_CODE, CniError, type CniRequest, type CniResult, parseCniRequest } from "./protocol.js";

/**
 * A CNI request that met a transient API failure (429 right after an API server restart, a
 * 5xx, a dropped connection) is run again, whole, for up to 45 s: under the plugin's HTTP
 * timeout of 90 s (src/cni/main.go), so the runtime gets pinpool's answer, not a timeout.
 * An ADD's wait for a full pool (PINPOOL_ADD_WAIT_SECONDS, at most 80 s) counts from the
 * request's arrival, across its retries and families.
 */
export const AGENT_RETRY: RetryOptions = { deadlineMs: 45_000, baseDelayMs: 100, maxDelayMs: 2_000 };

/** The IPAM calls the server makes (an interface, so tests can stand in for the API). */
export type CniHandler = Pick<Ipam, "add" | "del" | "check" | "status">;

const VERBS: Partial<Record<CniRequest["command"], string>> = { ADD: "allocating addresses for", DEL: "releasing the addresses of", CHECK: "checking the addresses of" };

/** What a command does, for the first half of a failure sentence: `allocating addresses for pod t/nginx-1`. */
function purpose(req: CniRequest): string {
  const verb = VERBS[req.command];
  return verb ? `${verb} pod ${req.pod.namespace}/${req.pod.name}` : `answering CNI ${req.command}`;
}

function handle(ipam: CniHandler, req: CniRequest, receivedAt: number): Promise<CniResult | void> {
  switch (req.command) {
    case "ADD":
      return ipam.add(req, receivedAt);
    case "DEL":
      return ipam.del(req);
    case "CHECK":
      return ipam.check(req);
    case "STATUS":
      return ipam.status();
    default:
      return Promise.resolve();
  }
}

export async function startAgentServer(
  socket: string,
  ipam: CniHandler,
  metrics: AgentMetrics,
  logger: boolean | { level: string } = { level: "info" },
  retry: RetryOptions = AGENT_RETRY,
): Promise<FastifyInstance> {
  const app = Fastify({ logger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: 1 << 20 });
  app.post<{ Params: { command: string } }>("/v1/cni/:command", async (request, reply) => {
    const command = request.params.command.toUpperCase();
    const stop = metrics.duration.startTimer({ command });
    try {
      const receivedAt = Date.now();
      const req = parseCniRequest(command, request.body);
      // Each command is idempotent (claims and releases are compare-and-swaps), so running it again is safe.
      const result = await withTransientRetry(purpose(req), () => handle(ipam, req, receivedAt), retry);
      metrics.requests.inc({ command, result: "ok" });
      return result ? { result } : {};
    } catch (e) {
      const known = e instanceof CniError;
      metrics.requests.inc({ command, result: known ? `code_${e.code}` : "error" });
      const pod = `${(request.body as { args?: Record<string, string> } | null)?.args?.K8S_POD_NAMESPACE}/${(request.body as { args?: Record<string, string> } | null)?.args?.K8S_POD_NAME}`;
      app.log[known ? "info" : "error"]({ err: e, command, pod }, "CNI request failed");
      // An unexpected failure (API server unavailable, contention) is worth a retry by the
      // runtime; its details are one sentence (never client-node's dump of headers).
      const error = known ? { code: e.code, msg: e.msg, details: e.details } : { code: CNI_CODE.tryAgainLater, msg: "the pinpool agent could not complete the request", details: describeError(e) };
      return reply.code(known ? 409 : 503).send({ error });
    } finally {
      stop();
    }
  });
  app.get("/healthz", () => ({ status: "ok" }));
  await mkdir(path.dirname(socket), { recursive: true, mode: 0o700 });
  await rm(socket, { force: true }); // a socket file left by a previous agent
  await app.listen({ path: socket });
  await chmod(socket, 0o600); // root only: whoever can talk to it can take addresses
  return app;
}
