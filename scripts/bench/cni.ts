/**
 * npm run bench:cni — the node path beside Debian's host-local and a real peer, Whereabouts
 * (built from the Go module proxy by build-whereabouts.sh, its CRDs applied from the module
 * cache), in one run with the same method: a process per call, as a runtime does. Prints;
 * asserts nothing except that no address was lost or handed out twice.
 *  1. each plugin's exec cost alone: a no-op VERSION call, and pinpool's ADD against an
 *     agent that answers at once;
 *  2. ADD p50/p99 at concurrency 1, throughput and p99 at concurrency 20, DEL p50 at
 *     concurrency 1, binary size and peak RSS, and the ratios to host-local;
 *  3. Spiderpool's layout (100 Deployments × 10 replicas through the real
 *     controller-manager and the node simulator) once with host-local, once with pinpool:
 *     time until all 1,000 pods have addresses, and pinpool's own CPU per pod.
 * PINPOOL_BENCH_NODE names the simulated node (default bench-node), so two checkouts can
 * run it side by side.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { GROUP, PLURAL, type SpiderIPPool, VERSION } from "../../src/api/types.js";
import { parseAddress } from "../../src/ip/address.js";
import { AllocationRecord } from "../../src/ip/allocation-record.js";
import { buildPlugin, cniBinDir, startLocalAgent } from "../cluster/agent.js";
import { PRODUCTION_TIMINGS, startLocalController } from "../cluster/controller.js";
import { createNamespace, kubectlOk, localClients, repoRoot } from "../cluster/local.js";
import { stateDir } from "../cluster/process.js";
import { type Series, addressOf, exec, instantAgent, peakRssMiB, series } from "./cni-exec.js";
import { type LayoutResult, layout } from "./cni-layout.js";

const run = promisify(execFile);
const NODE = process.env.PINPOOL_BENCH_NODE || "bench-node";
const ADDS_C1 = 200;
const ADDS_C20 = 400;

interface Plugin {
  name: string;
  binary: string;
  conf: string;
  /** CNI_ARGS for call `i` (the pod it is for). */
  args: (i: number) => string;
  /** Checks the plugin's own records after the ADDs / after the DELs (nothing lost or doubled). */
  afterAdds?: (c1: Series, c20: Series) => Promise<void>;
  afterDels?: () => Promise<void>;
}

interface Row {
  add: Series;
  add20: Series;
  del: Series;
  binaryMiB: number;
  rssMiB: number;
}

const cniEnv = (command: string, i: number, args: string): Record<string, string> => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: `bench${i}`,
  CNI_NETNS: "/var/run/netns/none",
  CNI_IFNAME: "eth0",
  CNI_ARGS: args,
  CNI_PATH: "/usr/lib/cni",
});

/** Whereabouts' binary, and its CRDs applied from the module cache (nothing of it is committed). */
async function whereabouts(): Promise<string> {
  const { stdout } = await run("bash", [path.join(repoRoot, "scripts/bench/build-whereabouts.sh")], { maxBuffer: 16 << 20 });
  const binary = stdout.trim().split("\n").pop() as string;
  const version = /whereabouts\/(v[^/-]+)/.exec(binary)?.[1] as string;
  const { stdout: json } = await run("go", ["mod", "download", "-json", `github.com/k8snetworkplumbingwg/whereabouts@${version}`], { env: { ...process.env, GOFLAGS: "-modcacherw" }, cwd: os.tmpdir() });
  const dir = (JSON.parse(json) as { Dir: string }).Dir;
  for (const crd of ["ippools", "overlappingrangeipreservations", "nodeslicepools"]) {
    await kubectlOk(["apply", "-f", "-"], readFileSync(path.join(dir, "doc/crds", `whereabouts.cni.cncf.io_${crd}.yaml`), "utf8"));
  }
  return binary;
}

/** Whereabouts v0.9 insists on its "flat file" (datastore and kubeconfig), as its DaemonSet installs it. */
function whereaboutsFlatFile(kubeconfig: string): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), "whereabouts-")), "whereabouts.conf");
  writeFileSync(file, JSON.stringify({ datastore: "kubernetes", kubernetes: { kubeconfig }, log_level: "error" }));
  return file;
}

/** Every address Whereabouts holds, from its IPPools (all namespaces). */
async function whereaboutsAllocations(): Promise<number> {
  const out = JSON.parse(await kubectlOk(["get", "ippools.whereabouts.cni.cncf.io", "-A", "-o", "json"])) as { items: Array<{ spec: { allocations?: Record<string, unknown> } }> };
  return out.items.reduce((n, p) => n + Object.keys(p.spec.allocations ?? {}).length, 0);
}

async function measurePlugin(p: Plugin): Promise<Row> {
  const call = (command: string, base: number) => (i: number) => exec(p.binary, cniEnv(command, base + i, p.args(base + i)), p.conf);
  const add = await series(ADDS_C1, 1, call("ADD", 0));
  const add20 = await series(ADDS_C20, 20, call("ADD", ADDS_C1));
  const addresses = [...add.outputs.values(), ...add20.outputs.values()].map(addressOf);
  const distinct = new Set(addresses).size;
  console.log(`  ${p.name}: ${addresses.length} ADDs answered, ${distinct} distinct addresses${add.failed + add20.failed ? `, ${add.failed + add20.failed} FAILED` : ""}`);
  if (distinct !== addresses.length) throw new Error(`${p.name} handed out an address twice`);
  await p.afterAdds?.(add, add20);
  const del = await series(ADDS_C1, 1, call("DEL", 0));
  await series(ADDS_C20, 20, call("DEL", ADDS_C1)); // clean-up, not measured
  const rssMiB = await peakRssMiB(p.binary, cniEnv("ADD", ADDS_C1 + ADDS_C20, p.args(ADDS_C1 + ADDS_C20)), p.conf);
  await exec(p.binary, cniEnv("DEL", ADDS_C1 + ADDS_C20, p.args(ADDS_C1 + ADDS_C20)), p.conf);
  await p.afterDels?.();
  return { add, add20, del, binaryMiB: statSync(p.binary).size / 2 ** 20, rssMiB };
}

function table(rows: Map<string, Row>): void {
  const base = rows.get("host-local") as Row;
  const ms = (v: number): string => (v < 10 ? v.toFixed(1) : v.toFixed(0));
  const ratio = (v: number, b: number): string => `${(v / b).toFixed(2)}x`;
  console.log("\n| plugin | ADD p50 / p99 c=1 | ADDs/s c=20 | ADD p99 c=20 | DEL p50 c=1 | binary / peak RSS |");
  console.log("|---|---|---|---|---|---|");
  for (const [name, r] of rows) {
    const vs = name === "host-local" ? "" : ` (${ratio(r.add.stats.p50, base.add.stats.p50)})`;
    console.log(
      `| ${name} | ${ms(r.add.stats.p50)} / ${ms(r.add.stats.p99)} ms${vs} | ${r.add20.perSecond.toFixed(1)}${name === "host-local" ? "" : ` (${ratio(r.add20.perSecond, base.add20.perSecond)})`} | ${(r.add20.stats.p99 / 1000).toFixed(2)} s | ${ms(r.del.stats.p50)} ms${name === "host-local" ? "" : ` (${ratio(r.del.stats.p50, base.del.stats.p50)})`} | ${r.binaryMiB.toFixed(1)} / ${r.rssMiB.toFixed(1)} MiB |`,
    );
  }
}

/** Exec cost alone: VERSION for each plugin; pinpool's ADD against an agent that answers at once. */
async function execCost(plugins: Plugin[]): Promise<void> {
  console.log("exec cost (process start included; 100 calls each):");
  for (const p of plugins) {
    const env = { CNI_COMMAND: "VERSION" };
    const s = await series(100, 1, () => exec(p.binary, env, p.conf));
    console.log(`  ${p.name} VERSION: p50 ${s.stats.p50.toFixed(2)} ms, p99 ${s.stats.p99.toFixed(2)} ms, peak RSS ${(await peakRssMiB(p.binary, env, p.conf)).toFixed(1)} MiB`);
  }
  const pinpool = plugins.find((p) => p.name === "pinpool") as Plugin;
  const socket = path.join(stateDir, "run", "instant-agent.sock");
  const agent = await instantAgent(socket);
  try {
    const conf = JSON.stringify({ cniVersion: "1.0.0", name: "bench", ipam: { type: "pinpool", socket } });
    const s = await series(100, 1, (i) => exec(pinpool.binary, cniEnv("ADD", i, "IgnoreUnknown=1;K8S_POD_NAMESPACE=x;K8S_POD_NAME=y"), conf));
    const rss = await peakRssMiB(pinpool.binary, cniEnv("ADD", 0, "IgnoreUnknown=1;K8S_POD_NAMESPACE=x;K8S_POD_NAME=y"), conf);
    console.log(`  pinpool ADD against an agent that answers at once: p50 ${s.stats.p50.toFixed(2)} ms, p99 ${s.stats.p99.toFixed(2)} ms, peak RSS ${rss.toFixed(1)} MiB`);
  } finally {
    await agent.close();
  }
}

/** Every pod has a distinct address; with pinpool, one its auto pool's record gives that very pod. */
function checkLayout(name: string, r: LayoutResult, pools?: SpiderIPPool[]): void {
  const ips = r.pods.map((p) => p.status?.podIP as string);
  const problems: string[] = [];
  if (new Set(ips).size !== 1000) problems.push(`${1000 - new Set(ips).size} addresses doubled`);
  if (pools) {
    const holderOf = new Map<string, string>();
    for (const pool of pools) {
      const record = AllocationRecord.decode(4, pool.status?.allocations);
      for (const h of record.holders()) for (const a of record.addressesOf(h)) holderOf.set(a.toString(), h);
    }
    for (const p of r.pods) {
      const holder = holderOf.get(parseAddress(p.status?.podIP as string).value.toString());
      if (holder !== `${r.namespace}/${p.metadata?.name}`) problems.push(`${p.metadata?.name} has ${p.status?.podIP}, held by ${holder ?? "nobody"}`);
    }
  }
  console.log(`  ${name}: ${problems.length ? `PROBLEMS: ${problems.slice(0, 5).join("; ")}` : "1,000 distinct addresses, each held by its pod in the pools' records"}`);
}

async function main(): Promise<void> {
  console.log(`bench:cni on ${os.cpus()[0]?.model ?? "unknown CPU"}, nproc ${os.availableParallelism()}, node ${process.version}`);
  const { kubeconfig, kc, core, apps, custom } = await localClients();
  const [plugin, wbBinary] = await Promise.all([buildPlugin(), whereabouts()]);
  let controller = await startLocalController(kubeconfig, { env: PRODUCTION_TIMINGS });
  // The latency pods live on a node no simulator runs, and the agent serves that node (its pod cache holds them).
  const idleNode = `${NODE}-idle`;
  let agent = await startLocalAgent(kubeconfig, idleNode);
  const ns = await createNamespace(core, "bench");
  const poolName = `bench-${ns}`;
  // One subnet per bench node, kept across runs (apply is idempotent): a subnet per run would
  // overlap the last run's, which its finalizer keeps until its pools are reclaimed.
  const subnetName = `bench1000-${NODE}`;
  try {
    await kubectlOk(["apply", "-f", "-"], `{"apiVersion":"${GROUP}/${VERSION}","kind":"SpiderIPPool","metadata":{"name":"${poolName}"},"spec":{"subnet":"10.98.0.0/16","ips":["10.98.0.1-10.98.7.254"]}}`);
    await core.createNode({ body: { metadata: { name: idleNode } } }).catch(() => undefined);
    const pods = ADDS_C1 + ADDS_C20 + 1;
    for (let i = 0; i < pods; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, pods - i) }, (_, k) =>
          core.createNamespacedPod({
            namespace: ns,
            body: { metadata: { name: `p${i + k}`, annotations: { "ipam.spidernet.io/ippool": `{"ipv4":["${poolName}"]}` } }, spec: { nodeName: idleNode, containers: [{ name: "c", image: "nginx" }] } },
          }),
        ),
      );
    }
    const podArgs = (i: number): string => `IgnoreUnknown=1;K8S_POD_NAMESPACE=${ns};K8S_POD_NAME=p${i}`;
    const readPool = async (): Promise<SpiderIPPool> => (await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool, name: poolName })) as SpiderIPPool;
    const plugins: Plugin[] = [
      {
        name: "host-local",
        binary: "/usr/lib/cni/host-local",
        conf: JSON.stringify({ cniVersion: "1.0.0", name: "bench", ipam: { type: "host-local", dataDir: mkdtempSync(path.join(os.tmpdir(), "host-local-")), ranges: [[{ subnet: "10.97.0.0/16" }]] } }),
        args: () => "IgnoreUnknown=1",
      },
      {
        name: "pinpool",
        binary: plugin,
        conf: JSON.stringify({ cniVersion: "1.0.0", name: "bench", ipam: { type: "pinpool", socket: agent.socket } }),
        args: podArgs,
        afterAdds: async (c1, c20) => {
          const record = AllocationRecord.decode(4, (await readPool()).status?.allocations);
          const given = [...[...c1.outputs].map(([i, out]) => [i, out] as const), ...[...c20.outputs].map(([i, out]) => [ADDS_C1 + i, out] as const)];
          const wrong = given.filter(([i, out]) => record.holderOf(parseAddress(addressOf(out)).value) !== `${ns}/p${i}`);
          console.log(`    pool record: ${record.count} held; ${wrong.length ? `${wrong.length} ADDs NOT MATCHING it` : "every answered address held by its pod"}`);
        },
        afterDels: async () => console.log(`    pool record after the DELs: ${AllocationRecord.decode(4, (await readPool()).status?.allocations).count} held`),
      },
      {
        name: `whereabouts ${/whereabouts\/(v[^/-]+)/.exec(wbBinary)?.[1]}`,
        binary: wbBinary,
        conf: JSON.stringify({ cniVersion: "1.0.0", name: "bench-wb", ipam: { type: "whereabouts", range: "10.96.0.0/16", configuration_path: whereaboutsFlatFile(kubeconfig), log_level: "error" } }),
        args: podArgs,
        afterAdds: async () => console.log(`    Whereabouts' IPPools: ${await whereaboutsAllocations()} held`),
        afterDels: async () => console.log(`    Whereabouts' IPPools after the DELs: ${await whereaboutsAllocations()} held`),
      },
    ];
    await execCost(plugins);
    console.log(`\nside by side (${ADDS_C1} ADDs at concurrency 1, ${ADDS_C20} at 20, ${ADDS_C1} DELs at 1; process start included):`);
    const rows = new Map<string, Row>();
    for (const p of plugins) rows.set(p.name, await measurePlugin(p));
    table(rows);

    // 3. The 1,000-pod layout: host-local with no pinpool process running, then pinpool.
    console.log(`\n100 Deployments × 10 replicas through the real controller-manager and the node simulator (node ${NODE}):`);
    await agent.stop();
    await controller.stop(); // and unregisters the webhooks: host-local's run has no pinpool in its path
    const cniPath = ["/usr/lib/cni", cniBinDir];
    const hostLocal = await layout({
      kc,
      core,
      apps,
      node: NODE,
      cniPath,
      agentSocket: agent.socket,
      ipam: { type: "host-local", dataDir: mkdtempSync(path.join(os.tmpdir(), "host-local-layout-")), ranges: [[{ subnet: "10.101.0.0/16" }]] },
      check: (r) => Promise.resolve(checkLayout("host-local", r)),
    });
    controller = await startLocalController(kubeconfig, { env: PRODUCTION_TIMINGS });
    agent = await startLocalAgent(kubeconfig, NODE);
    await kubectlOk(["apply", "-f", "-"], `{"apiVersion":"${GROUP}/${VERSION}","kind":"SpiderSubnet","metadata":{"name":"${subnetName}"},"spec":{"subnet":"10.100.0.0/16","ips":["10.100.0.1-10.100.255.254"]}}`);
    const controllerPid = Number(readFileSync(path.join(stateDir, "pids", "pinpool-controller.pid"), "utf8"));
    const pinpool = await layout({
      kc,
      core,
      apps,
      node: NODE,
      cniPath,
      agentSocket: agent.socket,
      annotations: { "ipam.spidernet.io/subnet": `{"ipv4":["${subnetName}"]}` },
      pids: [controllerPid, agent.child.pid as number],
      check: async (r) => checkLayout("pinpool", r, ((await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool })) as { items: SpiderIPPool[] }).items),
    });
    for (const [name, r] of [
      ["host-local", hostLocal],
      ["pinpool", pinpool],
    ] as const) {
      console.log(`  ${name}: all 1,000 pods have addresses ${r.seconds.toFixed(1)} s after the first create (creates admitted in ${r.admittedSeconds.toFixed(1)} s; sandbox failures seen: ${r.sandboxFailures})`);
    }
    console.log(`  ratio pinpool/host-local: ${(pinpool.seconds / hostLocal.seconds).toFixed(2)}x; pinpool's own CPU (controller + agent): ${pinpool.cpuSeconds.toFixed(1)} s, ${pinpool.cpuSeconds.toFixed(1)} ms per pod`);
  } finally {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    // The latency pods' node has no kubelet: they go only when forced (else the namespace stays Terminating).
    await core.deleteCollectionNamespacedPod({ namespace: ns, gracePeriodSeconds: 0 }).catch(() => undefined);
    await agent.stop();
    await controller.stop();
    await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool, name: poolName }).catch(() => undefined);
  }
}

await main();
