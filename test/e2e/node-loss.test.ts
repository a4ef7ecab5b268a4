/**
 * A node dies: its pods are deleted without any CNI DEL. The controller gives their
 * addresses back after the grace period, except the StatefulSet's ordinals, which keep
 * theirs and get them again on another node.
 */
import { expect } from "chai";
import { autoPoolName } from "../../src/api/names.js";
import { GROUP, PLURAL, type SpiderEndpoint, VERSION } from "../../src/api/types.js";
import { AllocationRecord } from "../../src/ip/allocation-record.js";
import { cniBinDir } from "../../scripts/cluster/agent.js";
import { createNamespace, kubectl, kubectlOk, waitFor } from "../../scripts/cluster/local.js";
import { NodeSimulator, TEST_NODE_LABEL } from "../../scripts/cluster/node-sim.js";
import { cluster } from "../integration/setup.js";
import { pool, runningPods, subnetYaml, workloadYaml } from "./helpers.js";
import { nodeStack } from "./stack.js";

const LOST = "e2e-lost-node";

function holders(p: Awaited<ReturnType<typeof pool>>): string[] {
  return [...new Set(AllocationRecord.decode(4, p.status?.allocations).holders())].sort();
}

describe("node loss: addresses of pods that vanished without CNI DEL", function () {
  this.timeout(240_000);
  let namespace: string;
  const subnet = "e2e-node-loss";
  const nodes: NodeSimulator[] = [];

  const startNode = async (): Promise<NodeSimulator> => {
    const { agent } = await nodeStack();
    const sim = new NodeSimulator(cluster().kc, { node: LOST, cniPath: ["/usr/lib/cni", cniBinDir], agentSocket: agent.socket, pinnedOnly: true });
    await sim.start();
    nodes.push(sim);
    return sim;
  };

  before(async () => {
    namespace = await createNamespace(cluster().core, "e2e-loss");
    await kubectlOk(["apply", "-f", "-"], subnetYaml(subnet, "10.70.0.0/16", "10.70.0.10-10.70.0.100"));
  });

  after(async () => {
    // While the live node still runs: it tears the sandboxes down (CNI DEL) as pods go.
    await kubectl(["delete", "namespace", namespace, "--wait=true", "--timeout=60s"]);
    for (const sim of nodes) await sim.stop();
    await kubectl(["delete", "node", LOST, "--ignore-not-found"]);
    await waitFor(`SpiderSubnet ${subnet} to be deletable`, 60_000, async () => ((await kubectl(["delete", "ss", subnet, "--ignore-not-found"])).code === 0 ? true : undefined));
  });

  it("releases the Deployment pods' addresses after the grace period; StatefulSet ordinals keep theirs", async () => {
    const first = await startNode();
    const annotations = { "ipam.spidernet.io/subnet": `{"ipv4":["${subnet}"]}`, "ipam.spidernet.io/ippool-ip-number": "+1" };
    const pinned = (yaml: string, app: string): string => yaml.replace(`labels: { app: ${app} }`, `labels: { app: ${app}, ${TEST_NODE_LABEL}: ${LOST} }`);
    await kubectlOk(["apply", "-n", namespace, "-f", "-"], pinned(workloadYaml("Deployment", "lost", 2, annotations), "lost"));
    await kubectlOk(["apply", "-n", namespace, "-f", "-"], pinned(workloadYaml("StatefulSet", "kept", 2, annotations), "kept"));
    const deployPods = await runningPods(namespace, "app=lost", 2, [], first);
    const setPods = await runningPods(namespace, "app=kept", 2, [], first);
    const deployPool = autoPoolName({ namespace, kind: "Deployment", name: "lost" }, "eth0", 4, subnet);
    const setPool = autoPoolName({ namespace, kind: "StatefulSet", name: "kept" }, "eth0", 4, subnet);

    // The node dies: no CNI DEL, the Node object goes, its pods are deleted at once.
    await first.stop();
    await cluster().core.deleteNode({ name: LOST });
    for (const p of [...deployPods, ...setPods]) await cluster().core.deleteNamespacedPod({ namespace, name: p.name, gracePeriodSeconds: 0 });

    // The replacement pods stay unbound (no node takes them yet), so only the controller can free addresses.
    const released = await waitFor("the lost Deployment pods' addresses to be released", 60_000, async () => {
      const p = await pool(deployPool);
      return holders(p).length === 0 ? p : undefined;
    });
    expect(released.status?.allocatedIPCount).to.equal(0);
    expect(holders(await pool(setPool))).to.deep.equal([`${namespace}/kept/0`, `${namespace}/kept/1`]);
    await waitFor("the lost pods' SpiderEndpoints to be deleted", 30_000, async () => {
      const list = (await cluster().custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderEndpoint, namespace })) as { items: SpiderEndpoint[] };
      const names = list.items.map((e) => e.metadata.name);
      return deployPods.every((p) => !names.includes(p.name)) ? true : undefined;
    });

    // A node comes back: the StatefulSet's pods get their own addresses again; the
    // Deployment's new pods fit in its pool because the lost ones were released.
    const second = await startNode();
    const again = await runningPods(namespace, "app=kept", 2, [], second);
    expect(again.map((p) => [p.name, p.ip])).to.deep.equal(setPods.map((p) => [p.name, p.ip]));
    const replacements = await runningPods(namespace, "app=lost", 2, [], second);
    expect(replacements.map((p) => p.name)).to.not.have.members(deployPods.map((p) => p.name));
  });
});
