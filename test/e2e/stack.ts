/**
 * (Both .mocharc.json files set `exit: true` as a backstop: a watch left open by a failing
 * test must not hang CI; the stop paths close every watch they open.)
 *
 * The node side of the e2e tests: the CNI plugin built from src/cni, pinpool-agent, and a
 * simulated node running the real Debian bridge plugin in network namespaces.
 */
import { type LocalAgent, buildPlugin, cniBinDir, startLocalAgent } from "../../scripts/cluster/agent.js";
import { NodeSimulator } from "../../scripts/cluster/node-sim.js";
import { cluster, pinpoolController } from "../integration/setup.js";

/** The simulated node (and its network namespace pinpool-<node>); PINPOOL_E2E_NODE renames it so two checkouts can run e2e side by side. */
export const NODE = process.env.PINPOOL_E2E_NODE || "e2e-node";

export interface NodeStack {
  agent: LocalAgent;
  sim: NodeSimulator;
  plugin: string;
}

let stack: Promise<NodeStack> | undefined;

export function nodeStack(): Promise<NodeStack> {
  stack ??= (async () => {
    await pinpoolController();
    const plugin = await buildPlugin();
    const agent = await startLocalAgent(cluster().kubeconfigPath, NODE);
    const sim = new NodeSimulator(cluster().kc, { node: NODE, cniPath: ["/usr/lib/cni", cniBinDir], agentSocket: agent.socket });
    await sim.start();
    return { agent, sim, plugin };
  })();
  return stack;
}

export const mochaHooks = {
  async afterAll(): Promise<void> {
    if (!stack) return;
    const { agent, sim } = await stack;
    await sim.stop();
    await agent.stop();
  },
};
