/**
 * npm run bench:routed — pod-ready time on the real node's routed data plane (pinpool-routed,
 * BGP to the router outside the node), host-local and pinpool side by side in one run: a
 * Deployment of PODS replicas is created, and each pod's time from the create until it is
 * Ready is recorded. With pinpool, it also times each pod's route: from the moment the node's
 * kernel has the pod's /32 (CNI ADD) until the router outside has learned it over BGP, read
 * from `ip -ts monitor route` on both sides (stamped as `ip` prints each event: load on the
 * machine adds to both). The IPAMs run in the order host-local, pinpool, pinpool, host-local,
 * so neither gains from running second (warm caches) or loses from it.
 *
 * `npm run bench:routed -- 50` runs 50 pods instead of 100.
 */
import { spawn } from "node:child_process";
import os from "node:os";
import * as k8s from "@kubernetes/client-node";
import { ensureRealNode, installPinpool } from "../cluster/install.js";
import { createNamespace, ensureCluster, kubeConfig, kubectl, kubectlOk } from "../cluster/local.js";
import { ROUTER_NS } from "../cluster/underlay.js";
import { slowStopDeployment } from "../cluster/workloads.js";
import { subnetYaml } from "../../test/e2e/helpers.js";
import { HOST_LOCAL_DATA_DIR, withIpam } from "./node-ipam.js";
import { type Stats, summarise } from "./stats.js";

const PODS = Number(process.argv[2] ?? 100);
if (!Number.isInteger(PODS) || PODS < 1 || PODS > 200) throw new Error(`pods: got ${process.argv[2]}, expected a whole number from 1 to 200 (the node runs at most 250 pods)`);
const SUBNET = "bench-routed";
const POLL_MS = 100;

interface Run {
  label: string;
  started: number;
  allReadySeconds: number;
  ready: Stats;
  /** Pod address → when the pod was first seen Ready (epoch ms). */
  readyAt: Map<string, number>;
}

/** Each pod's Ready time since `started`, polled; resolves once all `count` are Ready. */
async function waitReady(core: k8s.CoreV1Api, namespace: string, count: number, started: number): Promise<Map<string, number>> {
  const readyAt = new Map<string, number>();
  const deadline = started + 600_000;
  while (readyAt.size < count) {
    if (Date.now() > deadline) throw new Error(`only ${readyAt.size} of ${count} pods Ready after 600 s`);
    const now = Date.now();
    for (const p of (await core.listNamespacedPod({ namespace })).items) {
      const ip = p.status?.podIP;
      if (ip && !readyAt.has(ip) && p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) readyAt.set(ip, now);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return readyAt;
}

async function measure(core: k8s.CoreV1Api, label: string, annotations: Record<string, string>): Promise<Run> {
  const namespace = await createNamespace(core, "bench-routed");
  try {
    const started = Date.now();
    await kubectlOk(["apply", "-n", namespace, "-f", "-"], slowStopDeployment({ name: "web", replicas: PODS, stopSeconds: 0, annotations }));
    const readyAt = await waitReady(core, namespace, PODS, started);
    const times = [...readyAt.values()].map((t) => t - started);
    return { label, started, allReadySeconds: Math.max(...times) / 1000, ready: summarise(times), readyAt };
  } finally {
    await kubectl(["delete", "namespace", namespace, "--wait=true", "--timeout=300s"]);
  }
}

/** `ip -ts monitor route` in a namespace (or the host's): when each /32 or /128 appeared, every time. */
function routeMonitor(netns?: string): { seen: Map<string, number[]>; stop: () => void } {
  const args = [...(netns ? ["-n", netns] : []), "-ts", "monitor", "route"];
  const child = spawn("ip", args, { stdio: ["ignore", "pipe", "inherit"] });
  const seen = new Map<string, number[]>();
  let rest = "";
  child.stdout.on("data", (d: Buffer) => {
    const lines = (rest + d.toString()).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) {
      // [2026-12-04T16:55:58.094722] 10.244.9.9 via 198.18.1.1 dev uplink proto bird metric 32
      const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\] ([0-9a-f.:]+)(?:\/(?:32|128))? /.exec(line);
      if (!m) continue;
      // Local time, as ip prints it; microseconds kept.
      const at = new Date(m[1]!).getTime() + Number(m[2]) / 1000;
      seen.set(m[3]!, [...(seen.get(m[3]!) ?? []), at]);
    }
  });
  return { seen, stop: () => child.kill() };
}

/**
 * From the node's add of `ip` to the router's first learning of it, both after `since`: the
 * node's last add before the router learned it (a retried ADD's, not the failed one's), else
 * its first add. Negative when the node's monitor printed its event after the router's did.
 */
function propagation(node: Map<string, number[]>, router: Map<string, number[]>, ip: string, since: number): number | undefined {
  const learned = router.get(ip)?.find((t) => t >= since);
  const adds = node.get(ip)?.filter((t) => t >= since) ?? [];
  if (learned === undefined || adds.length === 0) return undefined;
  return learned - (adds.filter((t) => t <= learned).pop() ?? adds[0]!);
}

const f = (ms: number): string => (!Number.isFinite(ms) ? "-" : Math.abs(ms) >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(2)} ms`);

async function main(): Promise<void> {
  const kc = kubeConfig(await ensureCluster());
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await ensureRealNode("routed");
  await installPinpool();
  await kubectlOk(["apply", "-f", "-"], subnetYaml(SUBNET, "10.254.0.0/16", "10.254.0.1-10.254.3.254"));
  const hostLocal = { type: "host-local", ranges: [[{ subnet: "10.241.0.0/16" }]], dataDir: HOST_LOCAL_DATA_DIR };
  const runs: Run[] = [];
  const node = routeMonitor();
  const router = routeMonitor(ROUTER_NS);
  try {
    const pinpool = { "ipam.spidernet.io/subnet": `{"ipv4":["${SUBNET}"]}`, "ipam.spidernet.io/ippool-ip-number": "+1" };
    runs.push(await withIpam(hostLocal, () => measure(core, "host-local", {})));
    runs.push(await measure(core, "pinpool", pinpool));
    runs.push(await measure(core, "pinpool", pinpool));
    runs.push(await withIpam(hostLocal, () => measure(core, "host-local", {})));
  } finally {
    node.stop();
    router.stop();
    await kubectl(["delete", "ss", SUBNET, "--wait=false"]);
  }
  const floor = { allReadySeconds: (runs[0]!.allReadySeconds + runs[3]!.allReadySeconds) / 2, ready: { p50: (runs[0]!.ready.p50 + runs[3]!.ready.p50) / 2 } };
  console.log(`\n${PODS} pods of one Deployment on node ${process.env.PINPOOL_REAL_NODE_NAME || "node1"}, routed data plane (pinpool-routed), nproc ${os.availableParallelism()}; time from kubectl apply to each pod Ready; ratios against host-local's mean`);
  console.log("| IPAM | all Ready | ratio | per pod p50 | p99 | ratio p50 |");
  console.log("|---|---|---|---|---|---|");
  for (const r of runs) {
    console.log(`| ${r.label} | ${r.allReadySeconds.toFixed(1)} s | ${(r.allReadySeconds / floor.allReadySeconds).toFixed(2)}× | ${f(r.ready.p50)} | ${f(r.ready.p99)} | ${(r.ready.p50 / floor.ready.p50).toFixed(2)}× |`);
  }
  for (const r of runs) {
    const delays: number[] = [];
    let beforeReady = 0;
    let learned = 0;
    for (const [ip, ready] of r.readyAt) {
      const atRouter = router.seen.get(ip)?.filter((t) => t >= r.started - 1000) ?? [];
      if (atRouter.length > 0) learned++;
      if (atRouter.some((t) => t <= ready)) beforeReady++;
      const delay = propagation(node.seen, router.seen, ip, r.started - 1000);
      if (delay !== undefined) delays.push(delay);
    }
    const s = summarise(delays);
    console.log(`${r.label}: the router outside learned ${learned} of ${PODS} pod routes over BGP, ${beforeReady} before the pod was seen Ready; from the node's /32 to the router's (${s.n} timed): min ${f(Math.min(...delays))}, p50 ${f(s.p50)}, p99 ${f(s.p99)}, max ${f(s.max)}`);
  }
}

await main();
