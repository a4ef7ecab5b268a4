import { spawn } from "node:child_process";
import { expect } from "chai";
import type * as k8s from "@kubernetes/client-node";
import { autoPoolName } from "../../src/api/names.js";
import { GROUP, PLURAL, type SpiderEndpoint, VERSION } from "../../src/api/types.js";
import { AllocationRecord } from "../../src/ip/allocation-record.js";
import { parseAddress } from "../../src/ip/address.js";
import { isNotFound } from "../../src/k8s/errors.js";
import { inNetns } from "../../scripts/cluster/node-sim.js";
import { createNamespace, kubectl, kubectlOk, waitFor } from "../../scripts/cluster/local.js";
import { cluster } from "../integration/setup.js";
import { startLocalAgent } from "../../scripts/cluster/agent.js";
import { NODE, nodeStack } from "./stack.js";
import { type RunningPod, allocatedCount, pool, poolHolds, runningPods, subnetYaml, workloadYaml } from "./helpers.js";

describe("pods claim their reserved addresses: agent + CNI plugin + real bridge plugin in network namespaces", function () {
  this.timeout(240_000);
  const pools: string[] = [];
  const subnets: string[] = [];
  let namespace: string;

  before(async () => {
    await nodeStack();
  });

  beforeEach(async () => {
    namespace = await createNamespace(cluster().core, "e2e");
  });

  afterEach(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    // The pods' DELs release their addresses; then the pools and subnets can go.
    for (const name of pools.splice(0)) {
      await waitFor(`pool ${name} to drain`, 60_000, async () => {
        try {
          await cluster().custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool, name });
          return true;
        } catch (e) {
          return isNotFound(e) ? true : undefined;
        }
      });
    }
    for (const name of subnets.splice(0)) await kubectl(["delete", "ss", name, "--ignore-not-found"]);
  });

  it("replays the seed: pods get addresses inside the auto pool, reach each other, and keep to the pool after restarts", async () => {
    const { sim } = await nodeStack();
    subnets.push("nginx-subnet-v4");
    await kubectlOk(["apply", "-f", "-"], subnetYaml("nginx-subnet-v4", "10.244.0.0/16", "10.244.100.90-10.244.200.91"));
    const auto = autoPoolName({ namespace, kind: "Deployment", name: "nginx" }, "eth0", 4, "nginx-subnet-v4");
    pools.push(auto, "nginx-v4-ippool");
    await kubectlOk(["create", "-n", namespace, "-f", "-"], workloadYaml("Deployment", "nginx", 2, { "ipam.spidernet.io/subnet": '{"ipv4":["nginx-subnet-v4"]}', "ipam.spidernet.io/ippool-ip-number": "+3" }));
    const first = await runningPods(namespace, "app=nginx", 2);
    for (const p of first) expect(await poolHolds(auto, p.ip), `${p.name} ${p.ip} in ${auto}`).to.equal(true);
    expect(new Set(first.map((p) => p.ip)).size).to.equal(2);
    const [a, b] = first as [RunningPod, RunningPod];
    const ping = await inNetns(sim.netnsOf(a.uid) as string, ["ping", "-c", "1", "-W", "2", b.ip]);
    expect(ping.code, ping.stdout + ping.stderr).to.equal(0);
    expect(await allocatedCount(auto, 2)).to.equal(2);

    await kubectlOk(["delete", "pod", "-n", namespace, "-l", "app=nginx", "--wait=false"]);
    const second = await runningPods(namespace, "app=nginx", 2, first.map((p) => p.uid));
    // The simulated kubelet finished the old pods' deletion after their CNI DEL.
    await waitFor("the old pods to be gone", 30_000, async () => {
      const left = await cluster().core.listNamespacedPod({ namespace, labelSelector: "app=nginx" });
      return left.items.length === 2 ? true : undefined;
    });
    for (const p of second) expect(await poolHolds(auto, p.ip), `${p.name} ${p.ip} in ${auto}`).to.equal(true);
    expect(await allocatedCount(auto, 2)).to.equal(2);

    await kubectlOk(["apply", "-f", "-"], `{"apiVersion":"${GROUP}/${VERSION}","kind":"SpiderIPPool","metadata":{"name":"nginx-v4-ippool"},"spec":{"ipVersion":4,"subnet":"10.244.0.0/16","ips":["10.244.120.10-10.244.120.20"]}}`);
    await kubectlOk(["create", "-n", namespace, "-f", "-"], workloadYaml("Deployment", "nginx-m", 2, { "ipam.spidernet.io/ippool": '{"ipv4":["nginx-v4-ippool"]}' }, "nginx-m"));
    const manual = await runningPods(namespace, "app=nginx-m", 2);
    for (const p of manual) expect(await poolHolds("nginx-v4-ippool", p.ip), `${p.name} ${p.ip}`).to.equal(true);
    expect((await kubectlOk(["get", "sp", "nginx-v4-ippool", "--no-headers"])).split(/\s+/).slice(0, 5)).to.deep.equal(["nginx-v4-ippool", "4", "10.244.0.0/16", "2", "11"]);
  });

  it("gives a StatefulSet's recreated pod its old address, and never another pod's after scaling", async () => {
    subnets.push(`web-${namespace}`);
    await kubectlOk(["apply", "-f", "-"], subnetYaml(`web-${namespace}`, "10.245.0.0/16", "10.245.0.1-10.245.0.254"));
    const auto = autoPoolName({ namespace, kind: "StatefulSet", name: "web" }, "eth0", 4, `web-${namespace}`);
    pools.push(auto);
    await kubectlOk(["create", "-n", namespace, "-f", "-"], workloadYaml("StatefulSet", "web", 3, { "ipam.spidernet.io/subnet": `{"ipv4":["web-${namespace}"]}`, "ipam.spidernet.io/ippool-ip-number": "+1" }));
    const before = await runningPods(namespace, "app=web", 3);
    const ipOf = (pods: RunningPod[], name: string): string => pods.find((p) => p.name === name)?.ip as string;

    await kubectlOk(["delete", "pod", "-n", namespace, "web-1", "--wait=false"]);
    const recreated = await runningPods(namespace, "app=web", 3, [before[1]?.uid as string]);
    expect(ipOf(recreated, "web-1")).to.equal(ipOf(before, "web-1"));

    await kubectlOk(["scale", "-n", namespace, "statefulset", "web", "--replicas", "1"]);
    await runningPods(namespace, "app=web", 1);
    expect(await allocatedCount(auto, 1)).to.equal(1);
    await kubectlOk(["scale", "-n", namespace, "statefulset", "web", "--replicas", "3"]);
    const after = await runningPods(namespace, "app=web", 3);
    expect(ipOf(after, "web-0")).to.equal(ipOf(before, "web-0"));
    expect(new Set(after.map((p) => p.ip)).size).to.equal(3);
    for (const p of after) expect(await poolHolds(auto, p.ip)).to.equal(true);
  });

  /** Runs the pinpool plugin as the bridge plugin would, for a pod that no node runs. */
  function pluginAdd(plugin: string, socket: string, pod: string, command = "ADD"): Promise<{ code: number; out: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const child = spawn(plugin, [], {
        env: {
          CNI_COMMAND: command,
          CNI_CONTAINERID: `burst-${pod}`,
          CNI_NETNS: "/var/run/netns/none",
          CNI_IFNAME: "eth0",
          CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${namespace};K8S_POD_NAME=${pod}`,
          CNI_PATH: "/usr/lib/cni",
        },
      });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code: code ?? -1, out: out ? (JSON.parse(out) as Record<string, unknown>) : {} }));
      child.stdin.end(JSON.stringify({ cniVersion: "1.0.0", name: "burst", type: "bridge", ipam: { type: "pinpool", socket } }));
    });
  }

  it("gives 50 concurrent ADDs on a 50-address pool 50 distinct addresses; the 51st is told the pool is exhausted", async () => {
    const { agent, plugin } = await nodeStack();
    pools.push(`burst-${namespace}`);
    await kubectlOk(["apply", "-f", "-"], `{"apiVersion":"${GROUP}/${VERSION}","kind":"SpiderIPPool","metadata":{"name":"burst-${namespace}"},"spec":{"subnet":"10.246.0.0/24","ips":["10.246.0.1-10.246.0.50"]}}`);
    // Pods bound to a node no simulator runs: they exist, and only this test adds their addresses.
    await cluster().core.createNode({ body: { metadata: { name: "burst-node" } } }).catch(() => undefined);
    const podBody = (name: string): k8s.V1Pod => ({
      metadata: { name, annotations: { "ipam.spidernet.io/ippool": `{"ipv4":["burst-${namespace}"]}` } },
      spec: { nodeName: "burst-node", containers: [{ name: "c", image: "nginx" }] },
    });
    await Promise.all(Array.from({ length: 51 }, (_, i) => cluster().core.createNamespacedPod({ namespace, body: podBody(`p${i}`) })));
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => pluginAdd(plugin, agent.socket, `p${i}`)));
    expect(results.filter((r) => r.code !== 0).map((r) => r.out)).to.deep.equal([]);
    const addresses = results.map((r) => (r.out.ips as Array<{ address: string }>)[0]?.address);
    expect(new Set(addresses).size).to.equal(50);
    const last = await pluginAdd(plugin, agent.socket, "p50");
    expect(last.code).to.equal(1);
    expect(last.out).to.deep.include({ code: 102, msg: `SpiderIPPool "burst-${namespace}" is exhausted` });
    expect(String(last.out.details)).to.include("all 50 of its addresses are held (by 50 pods");
    // A retried ADD gets the same address back; DEL frees it for the waiting pod.
    expect((await pluginAdd(plugin, agent.socket, "p7")).out.ips).to.deep.equal(results[7]?.out.ips);
    expect((await pluginAdd(plugin, agent.socket, "p7", "DEL")).code).to.equal(0);
    expect((await pluginAdd(plugin, agent.socket, "p7", "DEL")).code).to.equal(0); // DEL is idempotent
    expect((await pluginAdd(plugin, agent.socket, "p50")).out.ips).to.deep.equal(results[7]?.out.ips);
    for (let i = 0; i <= 50; i++) if (i !== 7) await pluginAdd(plugin, agent.socket, `p${i}`, "DEL");
    expect(await allocatedCount(`burst-${namespace}`, 0)).to.equal(0);
  });

  it("loses and duplicates nothing when the agent is killed during a burst of ADDs, and between claims and endpoints, and restarted", async () => {
    const stack = await nodeStack();
    const name = `crash-${namespace}`;
    pools.push(name);
    await kubectlOk(["apply", "-f", "-"], `{"apiVersion":"${GROUP}/${VERSION}","kind":"SpiderIPPool","metadata":{"name":"${name}"},"spec":{"subnet":"10.247.0.0/24","ips":["10.247.0.1-10.247.0.30"]}}`);
    await cluster().core.createNode({ body: { metadata: { name: "burst-node" } } }).catch(() => undefined);
    const pods = Array.from({ length: 30 }, (_, i) => `c${i}`);
    await Promise.all(
      pods.map((pod) =>
        cluster().core.createNamespacedPod({
          namespace,
          body: { metadata: { name: pod, annotations: { "ipam.spidernet.io/ippool": `{"ipv4":["${name}"]}` } }, spec: { nodeName: "burst-node", containers: [{ name: "c", image: "nginx" }] } },
        }),
      ),
    );
    // An agent whose endpoint writes wait (fault injection): every ADD it answers is killed
    // between its claim and its endpoint.
    await stack.agent.stop();
    stack.agent = await startLocalAgent(cluster().kubeconfigPath, NODE, undefined, { PINPOOL_AGENT_ENDPOINT_DELAY_MS: "600000" });
    const early = await pluginAdd(stack.plugin, stack.agent.socket, "c0"); // answered for sure before the kill
    expect(early.code, JSON.stringify(early.out)).to.equal(0);
    const burst = Promise.all(pods.slice(1).map((pod) => pluginAdd(stack.plugin, stack.agent.socket, pod)));
    // Kill as soon as the burst's claims are in the pool's status: the window between claim and answer.
    const claimedAtKill = await waitFor("the first claims", 30_000, async () => {
      const n = AllocationRecord.decode(4, (await pool(name)).status?.allocations).count;
      return n > 1 ? n : undefined;
    });
    stack.agent.child.kill("SIGKILL");
    const first = [early, ...(await burst)];
    // How many ADDs the kill cut off depends on timing (a whole burst may be answered first);
    // every answered one was killed between its claim and its endpoint (the delayed write).
    const interrupted = first.filter((r) => r.code !== 0).length;
    console.log(`      (killed with ${claimedAtKill} claims written; ${30 - interrupted} ADDs answered without endpoints, ${interrupted} cut off)`);
    stack.agent = await startLocalAgent(cluster().kubeconfigPath, NODE);
    // As the kubelet does: every ADD that failed is tried again.
    const retried = await Promise.all(pods.map((pod, i) => (first[i]?.code === 0 ? Promise.resolve(first[i]) : pluginAdd(stack.plugin, stack.agent.socket, pod))));
    expect(retried.filter((r) => r?.code !== 0).map((r) => r?.out)).to.deep.equal([]);
    const address = (r: { out: Record<string, unknown> } | undefined): string => ((r?.out.ips as Array<{ address: string }>)[0]?.address ?? "").split("/")[0] as string;
    const given = new Map(pods.map((pod, i) => [pod, address(retried[i])]));
    expect(new Set(given.values()).size, "distinct addresses").to.equal(30);
    // The pool's record, the endpoints and the pods agree: nothing leaked, nothing doubled.
    const record = AllocationRecord.decode(4, (await pool(name)).status?.allocations);
    expect(record.count).to.equal(30);
    // The answered ADDs' endpoints were lost with the agent: the controller's sweep restores them from the pool.
    // The retried ADDs' endpoints are the agent's (with the sandbox), whoever wrote first.
    const retriedPods = new Set(pods.filter((_, i) => first[i]?.code !== 0));
    const endpoints = await waitFor("30 SpiderEndpoints", 60_000, async () => {
      const list = (await cluster().custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderEndpoint, namespace })) as { items: SpiderEndpoint[] };
      const agentWritten = list.items.filter((e) => retriedPods.has(e.metadata.name as string) && e.status?.current?.containerID === `burst-${e.metadata.name}`);
      return list.items.length === 30 && agentWritten.length === retriedPods.size ? list.items : undefined;
    });
    for (const e of endpoints) {
      const pod = e.metadata.name as string;
      const ipText = (e.status?.current?.ips[0]?.ipv4 ?? "").split("/")[0] as string;
      expect(ipText, pod).to.equal(given.get(pod));
      expect(record.holderOf(parseAddress(ipText).value), ipText).to.equal(`${namespace}/${pod}`);
    }
    // The answered ADDs' endpoints (c0's at least) were written by the controller: it cannot know the sandbox.
    const restored = endpoints.filter((e) => !e.status?.current?.containerID).map((e) => e.metadata.name as string);
    expect(restored.sort()).to.deep.equal(pods.filter((p) => !retriedPods.has(p)).sort());
    expect(restored).to.include("c0");
    for (const pod of pods) await pluginAdd(stack.plugin, stack.agent.socket, pod, "DEL");
    expect(await allocatedCount(name, 0)).to.equal(0);
  });

  it("answers an ADD for a pod that does not exist with a CNI error and writes nothing", async () => {
    const { agent, plugin } = await nodeStack();
    const r = await pluginAdd(plugin, agent.socket, "ghost");
    expect(r.code).to.equal(1);
    expect(r.out).to.deep.include({ code: 3, msg: `pod ${namespace}/ghost does not exist` });
    const endpoints = (await cluster().custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderEndpoint, namespace })) as { items: unknown[] };
    expect(endpoints.items).to.deep.equal([]);
  });
});
