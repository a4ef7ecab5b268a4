import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { ApiException } from "@kubernetes/client-node";
import { storageReinitializing } from "../../fixtures/api-errors.js";
import { expect } from "chai";
import type { FastifyInstance } from "fastify";
import type { CniRequest, CniResult } from "../../../src/agent/protocol.js";
import { AGENT_RETRY, type CniHandler, startAgentServer } from "../../../src/agent/server.js";
import { AgentMetrics } from "../../../src/metrics/agent.js";

const restarting = storageReinitializing;

const RESULT: CniResult = { ips: [{ address: "10.244.0.10/16" }], routes: [] };

/** The agent's socket API, as the CNI plugin calls it. */
function call(socket: string, command: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const body = JSON.stringify({ command, containerID: "c1", ifName: "eth0", cniVersion: "1.1.0", config: {}, args: { K8S_POD_NAMESPACE: "t", K8S_POD_NAME: "nginx-1" } });
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, path: `/v1/cni/${command.toLowerCase()}`, method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      let data = "";
      res.on("data", (d: Buffer) => (data += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) as Record<string, unknown> }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("agent/server: transient API failures", () => {
  let dir: string;
  let socket: string;
  let app: FastifyInstance;
  let add: (req: CniRequest) => Promise<CniResult> = () => Promise.resolve(RESULT);
  let del: (req: CniRequest) => Promise<void> = () => Promise.resolve();

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "pinpool-agent-"));
    socket = path.join(dir, "agent.sock");
    const ipam: CniHandler = { add: (r) => add(r), del: (r) => del(r), check: () => Promise.resolve(), status: () => Promise.resolve() };
    // Short, so giving up takes a fraction of a second (the real budget is AGENT_RETRY's).
    app = await startAgentServer(socket, ipam, new AgentMetrics(false), false, { deadlineMs: 300, baseDelayMs: 5, maxDelayMs: 20 });
  });

  after(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("runs ADD again after a 429 and answers the result once the API server is back", async () => {
    let calls = 0;
    add = () => (++calls < 3 ? Promise.reject(restarting()) : Promise.resolve(RESULT));
    expect(await call(socket, "ADD")).to.deep.equal({ status: 200, json: { result: RESULT } });
    expect(calls).to.equal(3);
  });

  it("when it stays down, answers code 11 whose details are one sentence without headers", async () => {
    del = () => Promise.reject(restarting());
    const r = await call(socket, "DEL");
    expect(r.status).to.equal(503);
    const error = r.json.error as { code: number; msg: string; details: string };
    expect([error.code, error.msg]).to.deep.equal([11, "the pinpool agent could not complete the request"]);
    expect(error.details).to.match(/^releasing the addresses of pod t\/nginx-1: the API server answered 429 TooManyRequests "storage is \(re\)initializing" for \d\.\d s; retry shortly$/);
  });

  it("does not retry a refusal, and says it in one line", async () => {
    let calls = 0;
    add = () => (calls++, Promise.reject(new ApiException<unknown>(403, "Unknown API Status Code!", '{"kind":"Status","message":"pods \\"nginx-1\\" is forbidden","reason":"Forbidden","code":403}', { "audit-id": "x" })));
    const error = (await call(socket, "ADD")).json.error as { code: number; details: string };
    expect(error).to.deep.include({ code: 11, details: 'allocating addresses for pod t/nginx-1: HTTP 403 Forbidden: pods "nginx-1" is forbidden' });
    expect(calls).to.equal(1);
  });

  it("gives up before the CNI plugin stops waiting for it", () => {
    const timeout = /newAgentClient\([^,]+,\s*(\d+)\s*\*\s*time\.Second\)/.exec(readFileSync(path.join(import.meta.dirname, "../../../src/cni/main.go"), "utf8"));
    expect(timeout, "the plugin's HTTP timeout in src/cni/main.go").to.not.equal(null);
    expect(AGENT_RETRY.deadlineMs).to.be.below(Number(timeout![1]) * 1000);
  });
});
