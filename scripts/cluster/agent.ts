/** Builds the CNI plugin and runs pinpool-agent for the local cluster's simulated node. */
import { execFile } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "./local.js";
import { LOCAL_PORTS } from "./ports.js";
import { type Component, startComponent, stateDir } from "./process.js";

const run = promisify(execFile);
export const cniBinDir = path.join(stateDir, "cni-bin");

/** Builds src/cni into .cluster/cni-bin/pinpool (static, stripped); returns its path. */
export async function buildPlugin(): Promise<string> {
  const out = path.join(cniBinDir, "pinpool");
  await run("go", ["build", "-trimpath", "-ldflags", "-s -w", "-o", out, "."], { cwd: path.join(repoRoot, "src/cni"), env: { ...process.env, CGO_ENABLED: "0" } });
  return out;
}

function healthy(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: socket, path: "/healthz", timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
  });
}

export interface LocalAgent extends Component {
  socket: string;
  metricsPort: number;
}

export async function startLocalAgent(kubeconfigPath: string, node: string, metricsPort = LOCAL_PORTS.agentMetrics, env: Record<string, string> = {}): Promise<LocalAgent> {
  const socket = path.join(stateDir, "run", "agent.sock");
  const component = await startComponent(
    "pinpool-agent",
    "src/agent/main.ts",
    { KUBECONFIG: kubeconfigPath, PINPOOL_NODE_NAME: node, PINPOOL_AGENT_SOCKET: socket, PINPOOL_AGENT_METRICS_HOST: "127.0.0.1", PINPOOL_AGENT_METRICS_PORT: String(metricsPort), ...env },
    () => healthy(socket),
  );
  return { ...component, socket, metricsPort };
}
