/**
 * npm run bench:rollout — `kubectl rollout restart` of a Deployment (10 replicas, maxSurge
 * 25%) whose containers take some seconds to stop (preStop sleep, 10 s), on the real node,
 * with host-local and with pinpool in the same run (the node's network config is switched
 * between them). Prints the time until the rollout is complete and until the last old pod
 * is gone, and the FailedCreatePodSandBox events: on pinpool's default +1 pool, surge pods
 * that find it full wait at the agent for the addresses of the pods still stopping.
 *
 * pinpool runs once per pool size: the default (no ippool-ip-number) and each explicit "+N"
 * given as arguments; `--replicas=N` and `--stop=S` change the workload
 * (e.g. `npm run bench:rollout -- --replicas=4 --stop=1 +5`).
 */
import { installPinpool } from "../cluster/install.js";
import { createNamespace, ensureCluster, kubeConfig, kubectl, kubectlOk, waitFor } from "../cluster/local.js";
import { slowStopDeployment } from "../cluster/workloads.js";
import { HOST_LOCAL_DATA_DIR, withIpam } from "./node-ipam.js";
import { SUBNET } from "../seed.js";
import * as k8s from "@kubernetes/client-node";

const option = (name: string, fallback: number): number => {
  const raw = process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}=${raw}: expected a whole number`);
  return n;
};
const REPLICAS = option("replicas", 10);
const STOP_SECONDS = option("stop", 10);
interface Result {
  label: string;
  poolSize: string;
  rolloutSeconds: number;
  drainedSeconds: number;
  sandboxFailures: number;
}

async function sandboxFailures(core: k8s.CoreV1Api, namespace: string): Promise<number> {
  const events = await core.listNamespacedEvent({ namespace, fieldSelector: "reason=FailedCreatePodSandBox" });
  return events.items.reduce((n, e) => n + (e.count ?? 1), 0);
}

async function measure(core: k8s.CoreV1Api, label: string, annotations: Record<string, string>): Promise<Result> {
  const namespace = await createNamespace(core, "rollout");
  const name = "web";
  await kubectlOk(["apply", "-n", namespace, "-f", "-"], slowStopDeployment({ name, replicas: REPLICAS, stopSeconds: STOP_SECONDS, annotations }));
  await kubectlOk(["rollout", "status", "-n", namespace, `deployment/${name}`, "--timeout=180s"]);
  const pool = annotations["ipam.spidernet.io/subnet"]
    ? (await kubectlOk(["get", "sp", "-l", `ipam.spidernet.io/owner-application-namespace=${namespace}`, "-o", "jsonpath={.items[0].status.totalIPCount}"])).trim()
    : "-";
  const before = await sandboxFailures(core, namespace);
  const started = Date.now();
  await kubectlOk(["rollout", "restart", "-n", namespace, `deployment/${name}`]);
  await kubectlOk(["rollout", "status", "-n", namespace, `deployment/${name}`, "--timeout=300s"]);
  const rolledOut = Date.now();
  await waitFor("the old pods to be gone", 120_000, async () => ((await core.listNamespacedPod({ namespace })).items.length === REPLICAS ? true : undefined));
  const drained = Date.now();
  const result = { label, poolSize: pool, rolloutSeconds: (rolledOut - started) / 1000, drainedSeconds: (drained - started) / 1000, sandboxFailures: (await sandboxFailures(core, namespace)) - before };
  await kubectl(["delete", "namespace", namespace, "--wait=true", "--timeout=120s"]);
  return result;
}

async function main(): Promise<void> {
  const kc = kubeConfig(await ensureCluster());
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await installPinpool();
  // Both IPAMs hand out addresses of the seed's 10.244.0.0/16 (the bridge data plane carries
  // one IPv4 subnet): pinpool from the seed's subnet (kept when it exists), host-local from a
  // range of it outside the subnet's addresses.
  const subnet = "nginx-subnet-v4";
  const existed = (await kubectl(["get", "ss", subnet])).code === 0;
  if (!existed) await kubectlOk(["apply", "-f", "-"], SUBNET);
  const results: Result[] = [];
  try {
    const hostLocal = { type: "host-local", ranges: [[{ subnet: "10.244.0.0/16", rangeStart: "10.244.250.1", rangeEnd: "10.244.250.254" }]], dataDir: HOST_LOCAL_DATA_DIR };
    results.push(await withIpam(hostLocal, () => measure(core, "host-local", {})));
    const subnetAnnotation = { "ipam.spidernet.io/subnet": `{"ipv4":["${subnet}"]}` };
    results.push(await measure(core, "pinpool, default size", subnetAnnotation));
    for (const n of process.argv.slice(2).filter((a) => !a.startsWith("--"))) results.push(await measure(core, `pinpool, ippool-ip-number ${n}`, { ...subnetAnnotation, "ipam.spidernet.io/ippool-ip-number": n }));
  } finally {
    if (!existed) await kubectl(["delete", "ss", subnet, "--wait=false"]);
  }
  const floor = results[0]!;
  console.log(`\nrollout restart of ${REPLICAS} replicas (maxSurge 25%), preStop sleep ${STOP_SECONDS} s, on node ${process.env.PINPOOL_REAL_NODE_NAME || "node1"} (nproc ${(await import("node:os")).availableParallelism()})`);
  console.log("| IPAM | pool size | rollout complete | ratio | last old pod gone | ratio | FailedCreatePodSandBox |");
  console.log("|---|---|---|---|---|---|---|");
  for (const r of results) {
    console.log(`| ${r.label} | ${r.poolSize} | ${r.rolloutSeconds.toFixed(1)} s | ${(r.rolloutSeconds / floor.rolloutSeconds).toFixed(2)}× | ${r.drainedSeconds.toFixed(1)} s | ${(r.drainedSeconds / floor.drainedSeconds).toFixed(2)}× | ${r.sandboxFailures} |`);
  }
}

await main();
