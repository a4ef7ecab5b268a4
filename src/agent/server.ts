/**
 * The agent's transport: fastify on a unix socket that only root can use (0600). Routes
 * parse the request, call the IPAM and answer in CNI's error shape on failure.
 */
import { chmod, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import Fastify, { type FastifyInstance, LogController } from "fastify";
import type { AgentMetrics } from "../metrics/agent.js";
import type { Ipam } from "./ipam.js";
import { CNI_CODE, CniError, parseCniRequest } from "./protocol.js";

export async function startAgentServer(socket: string, ipam: Ipam, metrics: AgentMetrics, logger: boolean | { level: string } = { level: "info" }): Promise<FastifyInstance> {
  const app = Fastify({ logger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: 1 << 20 });
  app.post<{ Params: { command: string } }>("/v1/cni/:command", async (request, reply) => {
    const command = request.params.command.toUpperCase();
    const stop = metrics.duration.startTimer({ command });
    try {
      const req = parseCniRequest(command, request.body);
      const result =
        req.command === "ADD" ? await ipam.add(req) : req.command === "DEL" ? await ipam.del(req) : req.command === "CHECK" ? await ipam.check(req) : req.command === "STATUS" ? await ipam.status() : undefined;
      metrics.requests.inc({ command, result: "ok" });
      return result ? { result } : {};
    } catch (e) {
      const known = e instanceof CniError;
      metrics.requests.inc({ command, result: known ? `code_${e.code}` : "error" });
      const pod = `${(request.body as { args?: Record<string, string> } | null)?.args?.K8S_POD_NAMESPACE}/${(request.body as { args?: Record<string, string> } | null)?.args?.K8S_POD_NAME}`;
      app.log[known ? "info" : "error"]({ err: e, command, pod }, "CNI request failed");
      // An unexpected failure (API server unreachable, contention) is worth a retry by the runtime.
      const error = known ? { code: e.code, msg: e.msg, details: e.details } : { code: CNI_CODE.tryAgainLater, msg: "the pinpool agent could not complete the request", details: (e as Error).message };
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
