/**
 * The node simulator as a process of its own (for the demo, so it outlives `npm run demo`;
 * `npm run cluster:down` stops it). Env: KUBECONFIG, PINPOOL_NODE_NAME, PINPOOL_AGENT_SOCKET,
 * PINPOOL_CNI_PATH (colon-separated), PINPOOL_READY_FILE (written once it runs).
 */
import { writeFileSync } from "node:fs";
import { loadKubeConfig } from "../../src/k8s/client.js";
import { NodeSimulator } from "./node-sim.js";

const env = (key: string): string => {
  const v = process.env[key];
  if (!v) throw new Error(`${key} is not set`);
  return v;
};
const sim = new NodeSimulator(loadKubeConfig(), { node: env("PINPOOL_NODE_NAME"), cniPath: env("PINPOOL_CNI_PATH").split(":"), agentSocket: env("PINPOOL_AGENT_SOCKET") });
sim.onFailure = (pod, message) => console.error(JSON.stringify({ time: new Date().toISOString(), pod, message }));
await sim.start();
writeFileSync(env("PINPOOL_READY_FILE"), String(process.pid));
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => void sim.stop().then(() => process.exit(0)));
}
