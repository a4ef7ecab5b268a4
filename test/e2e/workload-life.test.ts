/**
 * A workload's whole life with real addresses (agent, CNI plugin, Debian's bridge plugin in
 * network namespaces): a StatefulSet re-created after --cascade=orphan keeps each ordinal's
 * address; a subnet switch moves the pods to a new pool and releases the old one; with the
 * agent stopped, deleting a pod still completes and the GC releases its address later.
 */
import { expect } from "chai";
import { autoPoolName } from "../../src/api/names.js";
import { GROUP, PLURAL, VERSION } from "../../src/api/types.js";
import { isNotFound } from "../../src/k8s/errors.js";
import { startLocalAgent } from "../../scripts/cluster/agent.js";
import { createNamespace, kubectl, kubectlOk, waitFor } from "../../scripts/cluster/local.js";
import { cluster } from "../integration/setup.js";
import { NODE, nodeStack } from "./stack.js";
import { allocatedCount, pool, poolHolds, runningPods, subnetYaml, workloadYaml } from "./helpers.js";

async function gone(name: string): Promise<true | undefined> {
  try {
    await cluster().custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool, name });
    return undefined;
  } catch (e) {
    if (isNotFound(e)) return true;
    throw e;
  }
}

describe("a workload's whole life, with real addresses", function () {
  this.timeout(240_000);
  const subnets: string[] = [];
  let namespace: string;

  before(async () => {
    await nodeStack();
  });

  beforeEach(async () => {
    namespace = await createNamespace(cluster().core, "life");
  });

  afterEach(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=true", "--timeout=90s"]);
    for (const name of subnets.splice(0)) {
      await waitFor(`SpiderSubnet ${name} to be deletable`, 90_000, async () => ((await kubectl(["delete", "ss", name, "--ignore-not-found"])).code === 0 ? true : undefined));
    }
  });

  it("a StatefulSet deleted with --cascade=orphan and applied again keeps each ordinal's address; its pool is never deleted meanwhile", async () => {
    const subnet = `life-sts-${namespace}`;
    subnets.push(subnet);
    await kubectlOk(["apply", "-f", "-"], subnetYaml(subnet, "10.253.0.0/16", "10.253.0.1-10.253.0.254"));
    const annotations = { "ipam.spidernet.io/subnet": `{"ipv4":["${subnet}"]}` };
    const auto = autoPoolName({ namespace, kind: "StatefulSet", name: "web" }, "eth0", 4, subnet);
    await kubectlOk(["apply", "-n", namespace, "-f", "-"], workloadYaml("StatefulSet", "web", 2, annotations));
    const before = await runningPods(namespace, "app=web", 2);
    await kubectlOk(["delete", "sts", "-n", namespace, "web", "--cascade=orphan"]);
    await new Promise((r) => setTimeout(r, 8_000)); // longer than the local grace period (5 s) and several sweeps
    expect((await pool(auto)).metadata.deletionTimestamp, "the pool of orphaned pods that still hold addresses is kept").to.equal(undefined);
    await kubectlOk(["apply", "-n", namespace, "-f", "-"], workloadYaml("StatefulSet", "web", 2, annotations));
    const web0 = before.find((p) => p.name === "web-0");
    await kubectlOk(["delete", "pod", "-n", namespace, "web-0", "--wait=false"]);
    const after = await runningPods(namespace, "app=web", 2, [web0?.uid as string]);
    expect(after.map((p) => [p.name, p.ip])).to.deep.equal(before.map((p) => [p.name, p.ip]));
    const uid = await kubectlOk(["get", "sts", "-n", namespace, "web", "-o", "jsonpath={.metadata.uid}"]);
    await waitFor("the pool to be adopted by the new StatefulSet", 15_000, async () => ((await pool(auto)).metadata.annotations?.["pinpool.io/adopted-by-uid"] === uid ? true : undefined));
  });

  it("a subnet switch moves the pods to a pool in the new subnet with the rollout, and the old pool goes once its last pod is gone", async () => {
    const [from, to] = [`life-a-${namespace}`, `life-b-${namespace}`];
    subnets.push(from, to);
    await kubectlOk(["apply", "-f", "-"], subnetYaml(from, "10.251.0.0/16", "10.251.0.1-10.251.0.254"));
    await kubectlOk(["apply", "-f", "-"], subnetYaml(to, "10.252.0.0/16", "10.252.0.1-10.252.0.254"));
    const oldPool = autoPoolName({ namespace, kind: "Deployment", name: "api" }, "eth0", 4, from);
    const newPool = autoPoolName({ namespace, kind: "Deployment", name: "api" }, "eth0", 4, to);
    await kubectlOk(["apply", "-n", namespace, "-f", "-"], workloadYaml("Deployment", "api", 2, { "ipam.spidernet.io/subnet": `{"ipv4":["${from}"]}` }));
    const first = await runningPods(namespace, "app=api", 2);
    for (const p of first) expect(await poolHolds(oldPool, p.ip)).to.equal(true);
    await kubectlOk(["apply", "-n", namespace, "-f", "-"], workloadYaml("Deployment", "api", 2, { "ipam.spidernet.io/subnet": `{"ipv4":["${to}"]}` }));
    const moved = await runningPods(namespace, "app=api", 2, first.map((p) => p.uid));
    for (const p of moved) expect(await poolHolds(newPool, p.ip), `${p.name} ${p.ip} in ${newPool}`).to.equal(true);
    await waitFor(`the old pool ${oldPool} to be deleted`, 60_000, () => gone(oldPool));
    expect(await allocatedCount(newPool, 2)).to.equal(2);
  });

  it("with the agent stopped, deleting a pod still completes (CNI DEL fails open); the GC releases its address after the grace period", async () => {
    const { agent } = await nodeStack();
    const subnet = `life-down-${namespace}`;
    subnets.push(subnet);
    await kubectlOk(["apply", "-f", "-"], subnetYaml(subnet, "10.249.0.0/16", "10.249.0.1-10.249.0.254"));
    const auto = autoPoolName({ namespace, kind: "Deployment", name: "solo" }, "eth0", 4, subnet);
    await kubectlOk(["apply", "-n", namespace, "-f", "-"], workloadYaml("Deployment", "solo", 1, { "ipam.spidernet.io/subnet": `{"ipv4":["${subnet}"]}` }));
    const [pod] = await runningPods(namespace, "app=solo", 1);
    await agent.stop();
    try {
      await kubectlOk(["scale", "-n", namespace, "deploy", "solo", "--replicas", "0"]);
      await waitFor(`pod ${pod?.name} to be gone with the agent down`, 60_000, async () => ((await kubectl(["get", "pod", "-n", namespace, pod?.name as string])).code === 1 ? true : undefined));
      // Nobody ran the release: the controller's GC does, once the pod has been gone for the grace period.
      await waitFor("the GC to release the address", 60_000, async () => ((await pool(auto)).status?.allocatedIPCount === 0 ? true : undefined));
    } finally {
      const back = await startLocalAgent(cluster().kubeconfigPath, NODE);
      (await nodeStack()).agent = back;
    }
  });
});
