/**
 * npm run bench:cni — the node path's figures. Prints; asserts nothing.
 *  1. CNI ADD latency, plugin → agent → API server, at concurrency 1 and 20, beside Debian's
 *     host-local IPAM plugin measured in the same run;
 *  2. the plugin binary's size and peak RSS;
 *  3. Spiderpool's benchmark layout: 100 Deployments × 10 replicas = 1,000 pods through the
 *     real kube-controller-manager and the node simulator (real bridge plugin, network
 *     namespaces): time from the first create until every pod has an address.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { GROUP, PLURAL, VERSION } from "../../src/api/types.js";
import { buildPlugin, cniBinDir, startLocalAgent } from "../cluster/agent.js";
import { PRODUCTION_TIMINGS, startLocalController } from "../cluster/controller.js";
import { createNamespace, kubectlOk, localClients, waitFor } from "../cluster/local.js";
import { NodeSimulator } from "../cluster/node-sim.js";
import { formatStats, summarise } from "./stats.js";

function exec(binary: string, env: Record<string, string>, stdin: string): Promise<{ code: number; ms: number; out: string }> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const child = spawn(binary, [], { env });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, ms: Number(process.hrtime.bigint() - t) / 1e6, out }));
    child.stdin.on("error", () => undefined); // a plugin that exits before reading stdin
    child.stdin.end(stdin);
  });
}

async function latency(label: string, count: number, concurrency: number, one: (i: number) => Promise<{ code: number; ms: number; out: string }>): Promise<number> {
  const samples: number[] = [];
  let next = 0;
  let failed = 0;
  const t = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const r = await one(next++);
        if (r.code === 0) samples.push(r.ms);
        else if (failed++ === 0) console.log(`    first failure: ${r.out.trim()}`);
      }
    }),
  );
  const s = summarise(samples);
  console.log(`  ${label}: ${formatStats(s)}, ${(count / ((Date.now() - t) / 1000)).toFixed(0)} ADDs/s${failed ? `, ${failed} FAILED` : ""}`);
  return s.p50;
}

async function main(): Promise<void> {
  console.log(`bench:cni on ${os.cpus()[0]?.model ?? "unknown CPU"}, nproc ${os.availableParallelism()}, node ${process.version}`);
  const { kubeconfig, kc, core, apps, custom } = await localClients();
  const controller = await startLocalController(kubeconfig, { env: PRODUCTION_TIMINGS });
  const plugin = await buildPlugin();
  const agent = await startLocalAgent(kubeconfig, "bench-node");
  const ns = await createNamespace(core, "bench");
  const poolName = `bench-${ns}`;
  const subnetName = `bench1000-${ns}`;
  try {
    // 1. ADD latency.
    await kubectlOk(["apply", "-f", "-"], `{"apiVersion":"${GROUP}/${VERSION}","kind":"SpiderIPPool","metadata":{"name":"${poolName}"},"spec":{"subnet":"10.98.0.0/16","ips":["10.98.0.1-10.98.7.254"]}}`);
    await core.createNode({ body: { metadata: { name: "bench-idle-node" } } }).catch(() => undefined);
    const pods = 620;
    for (let i = 0; i < pods; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, pods - i) }, (_, k) =>
          core.createNamespacedPod({
            namespace: ns,
            body: { metadata: { name: `p${i + k}`, annotations: { "ipam.spidernet.io/ippool": `{"ipv4":["${poolName}"]}` } }, spec: { nodeName: "bench-idle-node", containers: [{ name: "c", image: "nginx" }] } },
          }),
        ),
      );
    }
    const pinpoolEnv = (i: number, command = "ADD"): Record<string, string> => ({
      CNI_COMMAND: command,
      CNI_CONTAINERID: `bench${i}`,
      CNI_NETNS: "/var/run/netns/none",
      CNI_IFNAME: "eth0",
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${ns};K8S_POD_NAME=p${i}`,
      CNI_PATH: "/usr/lib/cni",
    });
    const pinpoolConf = JSON.stringify({ cniVersion: "1.0.0", name: "bench", ipam: { type: "pinpool", socket: agent.socket } });
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "host-local-"));
    const hostLocalConf = JSON.stringify({ cniVersion: "1.0.0", name: "bench", ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.97.0.0/16" }]] } });
    console.log("CNI ADD latency (process start included):");
    let offset = 0;
    for (const [concurrency, count] of [
      [1, 200],
      [20, 400],
    ] as const) {
      const base = offset;
      const ours = await latency(`pinpool, concurrency ${concurrency}`, count, concurrency, (i) => exec(plugin, pinpoolEnv(base + i), pinpoolConf));
      const theirs = await latency(`host-local, concurrency ${concurrency}`, count, concurrency, (i) =>
        exec("/usr/lib/cni/host-local", { ...pinpoolEnv(base + i), CNI_ARGS: "IgnoreUnknown=1" }, hostLocalConf),
      );
      console.log(`  ratio pinpool/host-local p50 at concurrency ${concurrency}: ${(ours / theirs).toFixed(1)}x`);
      offset += count;
    }

    // 2. The plugin: size and peak RSS of one ADD (GNU time reports the maximum RSS).
    const timed = await new Promise<string>((resolve, reject) => {
      const child = spawn("/usr/bin/time", ["-v", plugin], { env: pinpoolEnv(offset) });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("error", reject);
      child.on("close", () => resolve(stderr));
      child.stdin.end(pinpoolConf);
    });
    const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(timed)?.[1];
    console.log(`plugin binary: ${(statSync(plugin).size / 2 ** 20).toFixed(1)} MiB static; peak RSS of one invocation: ${rss ? (Number(rss) / 1024).toFixed(1) : "?"} MiB`);

    // 3. 1,000 pods through the controller-manager and the node simulator.
    const sim = new NodeSimulator(kc, { node: "bench-node", cniPath: ["/usr/lib/cni", cniBinDir], agentSocket: agent.socket, parallel: 20 });
    await sim.start();
    await kubectlOk(["apply", "-f", "-"], `{"apiVersion":"${GROUP}/${VERSION}","kind":"SpiderSubnet","metadata":{"name":"${subnetName}"},"spec":{"subnet":"10.100.0.0/16","ips":["10.100.0.1-10.100.255.254"]}}`);
    const ns1000 = await createNamespace(core, "bench1000");
    const t = Date.now();
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          apps.createNamespacedDeployment({
            namespace: ns1000,
            body: {
              metadata: { name: `d${batch * 10 + i}` },
              spec: {
                replicas: 10,
                selector: { matchLabels: { app: `d${batch * 10 + i}` } },
                template: {
                  metadata: { labels: { app: `d${batch * 10 + i}` }, annotations: { "ipam.spidernet.io/subnet": `{"ipv4":["${subnetName}"]}` } },
                  spec: { containers: [{ name: "c", image: "nginx" }] },
                },
              },
            },
          }),
        ),
      );
    }
    const admitted = (Date.now() - t) / 1000;
    let last = 0;
    await waitFor("1,000 pods with addresses", 900_000, async () => {
      const list = await core.listNamespacedPod({ namespace: ns1000 });
      const withIP = list.items.filter((p) => p.status?.podIP).length;
      if (withIP >= last + 100) {
        console.log(`    ${withIP} pods with addresses after ${((Date.now() - t) / 1000).toFixed(0)} s`);
        last = withIP;
      }
      return withIP >= 1000 ? true : undefined;
    });
    const total = (Date.now() - t) / 1000;
    console.log(`100 Deployments × 10 replicas: all 1,000 pods have addresses ${total.toFixed(1)} s after the first create (creates admitted in ${admitted.toFixed(1)} s; Spiderpool's own: 182-207 s on 10 nodes)`);
    console.log(`  sandbox failures the simulator saw: ${sim.failures.size}`);
    await core.deleteNamespace({ name: ns1000 });
    await waitFor("the 1,000 pods to go", 600_000, async () => ((await core.listNamespacedPod({ namespace: ns1000 })).items.length === 0 ? true : undefined)).catch(() => undefined);
    await sim.stop();
  } finally {
    await core.deleteNamespace({ name: ns });
    await agent.stop();
    await controller.stop();
    for (const name of [poolName]) await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool, name }).catch(() => undefined);
  }
}

await main();
