/**
 * npm run bench:scale — how reserving an auto pool scales with the pools already in one
 * subnet. Prints; asserts nothing. Fills SpiderSubnet "bench-scale" with Deployments created
 * through the real API server (the real webhook reserves each one's pool: replicas 1 + the
 * default 1 = 2 addresses), and at each checkpoint prints: reserving-create latency, the fill
 * segment's rate, the ledger objects' sizes, the controller's (and API server's) RSS, and the
 * webhook's latency under load (8 connections, a review answered without an API call) while
 * the leader sweeps: every sweep judges everything here (PINPOOL_FULL_RESYNC_SECONDS=1), the
 * worst case of the change-driven sweep.
 * Only the public path is measured (API objects, ConfigMaps, /proc), so it runs the same
 * whichever way src/reservation stores its ledgers.
 *   npm run bench:scale -- --pools=50000 --pods=50000 --checkpoints=0,1000,5000,10000,25000,50000 --concurrency=16 --samples=40 --load-seconds=30 [--keep]
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { LABEL } from "../../src/api/labels.js";
import { GROUP, PLURAL, VERSION } from "../../src/api/types.js";
import { describeApiError, orUndefined } from "../../src/k8s/errors.js";
import { CONTROLLER_NAMESPACE, PRODUCTION_TIMINGS, startLocalController } from "../cluster/controller.js";
import { deleteSpiderObjects, kubectlOk, localClients, waitFor } from "../cluster/local.js";
import { SIM_SCHEDULER } from "../cluster/node-sim.js";
import { stateDir } from "../cluster/process.js";
import { percentile, summarise } from "./stats.js";
import { type LoadResult, formatLoad, labelUpdateReview, loadWebhook } from "./webhook-load.js";

const SUBNET = "bench-scale";
const NAMESPACE = "bench-scale";
// 10.128.0.0/13 (524,286 addresses): the integration tests use 10.64/16 and 10.65/16, and a
// subnet they left behind would make this one overlap.
const SUBNET_SPEC = { subnet: "10.128.0.0/13", ips: ["10.128.0.1-10.135.255.254"] };
const CLUSTER_LEDGER = "pinpool-ledger"; // src/config/controller.ts: PINPOOL_LEDGER_NAME's default
const LEDGER_SHARD_LABEL = "pinpool.spidernet.io/ledger"; // any value: where ledger shards may live
const POOL_SELECTOR = `${LABEL.ownerSubnet}=${SUBNET}`;
const KiB = 1024;
const MiB = 1024 * 1024;

function wholeNumber(flag: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${flag}=${raw}: expected a whole number ≥ ${min}`);
  return n;
}

const { values: flags } = parseArgs({
  options: {
    pools: { type: "string", default: "50000" },
    checkpoints: { type: "string", default: "0,1000,5000,10000,25000,50000" },
    concurrency: { type: "string", default: "16" },
    samples: { type: "string", default: "40" },
    // Leave what the bench made in place: at 50,000 pools the controller's clean-up takes over
    // an hour, and `npm run cluster:down` removes the whole cluster's state in seconds.
    keep: { type: "boolean", default: false },
    // Seconds between a fill and its samples: a fill's last provisional claims are settled
    // within PINPOOL_PENDING_CLAIM_SECONDS (15) + 1, and samples taken meanwhile measure that too.
    quiet: { type: "string", default: "20" },
    // Pods made before the fill, for the leader's mirror to hold (unscheduled: they hold no address).
    pods: { type: "string", default: "0" },
    // Seconds of webhook load at each checkpoint: three sweeps at least (10 s apart).
    "load-seconds": { type: "string", default: "30" },
  },
});
const maxPools = wholeNumber("pools", flags.pools, 1);
const concurrency = wholeNumber("concurrency", flags.concurrency, 1);
const sampleCount = wholeNumber("samples", flags.samples, 0);
const quietMs = wholeNumber("quiet", flags.quiet, 0) * 1000;
const loadSeconds = wholeNumber("load-seconds", flags["load-seconds"], 0);
const LOAD_CONNECTIONS = 8;
const podCount = wholeNumber("pods", flags.pods, 0);
const checkpoints = [...new Set(flags.checkpoints.split(",").map((c) => Math.min(maxPools, wholeNumber("checkpoints", c.trim(), 0))))].sort((a, b) => a - b);

interface LedgerSizes {
  subnetBytes: number;
  configMaps: number;
  largestBytes: number;
  totalBytes: number;
}
interface Row {
  pools: number;
  latenciesMs: number[];
  fill: { pools: number; seconds: number; ledgerWrites: number };
  sizes: LedgerSizes;
  rssMiB: Record<"controller" | "apiserver" | "etcd", number | undefined>;
  load?: LoadResult & { sweeps: number; sweepMs: number };
}

function machine(): string {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown CPU";
  return `machine: nproc ${os.availableParallelism()}, ${model}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory, node ${process.version}`;
}

/** VmRSS of a local-cluster component, by the pid file its starter wrote (startComponent, up.sh). */
function rssMiB(component: string): number | undefined {
  try {
    const pid = readFileSync(path.join(stateDir, "pids", `${component}.pid`), "utf8").trim();
    const kB = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kB === undefined ? undefined : (Number(kB) * 1024) / MiB;
  } catch {
    return undefined; // not running (or a pid file left by a stopped cluster)
  }
}

const describe = (e: unknown): string => (e instanceof k8s.ApiException ? describeApiError(e as k8s.ApiException<unknown>) : e instanceof Error ? e.message : String(e));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fixed = (n: number | undefined, digits = 1): string => (n === undefined || Number.isNaN(n) ? "—" : n.toFixed(digits));

console.log(machine());
const { kubeconfig, core, apps, custom } = await localClients();
// Production timings (10 s sweeps, 60 s grace), as bench:webhook: the figures include the
// sweep's real cost; every sweep a full one, the worst case.
const controller = await startLocalController(kubeconfig, { env: { ...PRODUCTION_TIMINGS, PINPOOL_FULL_RESYNC_SECONDS: "1" } });

const deployment = (name: string): k8s.V1Deployment => ({
  metadata: { name },
  spec: {
    replicas: 1,
    // Admission reserves a paused Deployment's pool like any other's, but the controller-manager
    // makes no ReplicaSet or pod for it: the fill measures reservations, not tens of thousands
    // of pods made on the same two cores.
    paused: true,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name }, annotations: { "ipam.spidernet.io/subnet": `{"ipv4":["${SUBNET}"]}` } },
      spec: { schedulerName: SIM_SCHEDULER, containers: [{ name: "c", image: "nginx" }] },
    },
  },
});

let created = 0;
let inFlight = 0;
let nextIndex = 0;
let firstError: string | undefined;
let interrupted = false;
const stopped = (): boolean => firstError !== undefined || interrupted;

/** One reserving create; its latency in ms, or undefined (the first failure is kept, and stops the run). */
async function createOne(): Promise<number | undefined> {
  const name = `d${nextIndex++}`;
  const start = process.hrtime.bigint();
  try {
    await apps.createNamespacedDeployment({ namespace: NAMESPACE, body: deployment(name) });
  } catch (e) {
    firstError ??= `creating Deployment ${NAMESPACE}/${name} with ${created} pools in the subnet: ${describe(e)}`;
    return undefined;
  }
  created++;
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** `count` pods in the bench's namespace, `concurrency` at a time; none is scheduled (no simulator runs), so none claims an address. */
async function makePods(count: number): Promise<void> {
  let next = 0;
  const t = Date.now();
  const worker = async (): Promise<void> => {
    while (next < count && !stopped()) {
      const name = `p${next++}`;
      const body: k8s.V1Pod = { metadata: { name, labels: { app: "bench-scale-pod" } }, spec: { schedulerName: SIM_SCHEDULER, containers: [{ name: "c", image: "nginx" }] } };
      await core.createNamespacedPod({ namespace: NAMESPACE, body }).catch((e: unknown) => {
        firstError ??= `creating pod ${NAMESPACE}/${name}: ${describe(e)}`;
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  console.log(`${next} pods made in ${fixed((Date.now() - t) / 1000)} s`);
}

async function fillTo(target: number): Promise<void> {
  const worker = async (): Promise<void> => {
    while (!stopped() && created + inFlight < target) {
      inFlight++;
      await createOne();
      inFlight--;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * ConfigMap writes the API server has served (apiserver_request_total): the ledgers' writes,
 * as nothing else writes ConfigMaps while the bench fills (one kube-root-ca.crt per namespace).
 */
async function configMapWrites(): Promise<number> {
  const lines = (await kubectlOk(["get", "--raw", "/metrics"])).split("\n");
  const writes = lines.filter((l) => l.startsWith("apiserver_request_total{") && l.includes('resource="configmaps"') && /verb="(POST|PUT|PATCH|DELETE)"/.test(l));
  return writes.reduce((n, l) => n + Number(l.split(" ").pop()), 0);
}

async function ledgerSizes(): Promise<LedgerSizes> {
  const bytes = (o: unknown): number => Buffer.byteLength(JSON.stringify(o));
  // Today the subnet's ledger is its status.controlledIPPools: the subnet object is a ledger object.
  const subnet = bytes(await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderSubnet, name: SUBNET }));
  const shards = (await core.listNamespacedConfigMap({ namespace: CONTROLLER_NAMESPACE, labelSelector: LEDGER_SHARD_LABEL })).items.filter((c) => c.metadata?.name !== CLUSTER_LEDGER);
  const clusterLedger = await orUndefined(core.readNamespacedConfigMap({ namespace: CONTROLLER_NAMESPACE, name: CLUSTER_LEDGER }));
  const maps = [...shards, ...(clusterLedger ? [clusterLedger] : [])].map(bytes);
  return { subnetBytes: subnet, configMaps: maps.length, largestBytes: Math.max(subnet, ...maps), totalBytes: maps.reduce((a, b) => a + b, subnet) };
}

/** The leader's sweeps so far: how many, and their total seconds (pinpool_reconcile_duration_seconds). */
async function sweepTotals(): Promise<{ count: number; seconds: number }> {
  const text = await (await fetch(`http://127.0.0.1:${controller.metricsPort}/metrics`)).text();
  const value = (suffix: string): number => Number(new RegExp(`^pinpool_reconcile_duration_seconds_${suffix} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
  return { count: value("count"), seconds: value("sum") };
}

/** The webhook under load from its own process while the leader sweeps, with the sweeps that ran meanwhile. */
async function webhookUnderSweep(): Promise<Row["load"]> {
  if (loadSeconds === 0 || created === 0) return undefined;
  const review = labelUpdateReview(await apps.readNamespacedDeployment({ namespace: NAMESPACE, name: "d0" }));
  const before = await sweepTotals();
  const result = await loadWebhook(controller, "/mutate", review, LOAD_CONNECTIONS, `${loadSeconds}s`);
  const after = await sweepTotals();
  const sweeps = after.count - before.count;
  return { ...result, sweeps, sweepMs: sweeps > 0 ? ((after.seconds - before.seconds) / sweeps) * 1000 : NaN };
}

async function measureRow(fill: Row["fill"], sample: boolean): Promise<Row> {
  const pools = created;
  const latenciesMs: number[] = [];
  for (let i = 0; sample && i < sampleCount && !stopped(); i++) {
    const ms = await createOne();
    if (ms !== undefined) latenciesMs.push(ms);
  }
  const load = sample ? await webhookUnderSweep() : undefined;
  const row = { pools, latenciesMs, fill, sizes: await ledgerSizes(), rssMiB: { controller: rssMiB("pinpool-controller"), apiserver: rssMiB("kube-apiserver"), etcd: rssMiB("etcd") }, ...(load ? { load } : {}) };
  const s = summarise(latenciesMs);
  const p90 = percentile([...latenciesMs].sort((a, b) => a - b), 90);
  const { sizes, rssMiB: rss } = row;
  console.log(`${pools} pools: ${s.n} reserving creates one at a time: p50 ${fixed(s.p50)} ms, p90 ${fixed(p90)} ms, p99 ${fixed(s.p99)} ms, max ${fixed(s.max)} ms`);
  console.log(`  fill to here: ${fill.pools} pools in ${fixed(fill.seconds)} s (${fixed(fill.pools / fill.seconds)}/s, ${concurrency} at a time), ${fixed(fill.ledgerWrites / fill.pools, 2)} ledger writes per reservation`);
  console.log(`  ledger objects: SpiderSubnet ${fixed(sizes.subnetBytes / KiB)} KiB; ${sizes.configMaps} ledger ConfigMaps; largest ${fixed(sizes.largestBytes / KiB)} KiB, total ${fixed(sizes.totalBytes / KiB)} KiB`);
  console.log(`  RSS: pinpool-controller ${fixed(rss.controller)} MiB, kube-apiserver ${fixed(rss.apiserver)} MiB, etcd ${fixed(rss.etcd)} MiB`);
  if (load) console.log(`  webhook under load while the leader sweeps (${load.sweeps} full sweeps of ${fixed(load.sweepMs, 0)} ms on average meanwhile): ${formatLoad(load, LOAD_CONNECTIONS)}`);
  return row;
}

function table(rows: readonly Row[]): string {
  const lines = [
    "| pools | create p50 ms | create p99 ms | fill rate /s | ledger writes per reservation | largest ledger object KiB | total ledger KiB | controller RSS MiB | API server RSS MiB | full sweep ms | webhook p50 / p99 ms under sweeps |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const s = summarise(r.latenciesMs);
    const rate = r.fill.pools > 0 ? r.fill.pools / r.fill.seconds : undefined;
    lines.push(`| ${r.pools.toLocaleString("en-US")} | ${fixed(s.p50)} | ${fixed(s.p99)} | ${fixed(rate, 0)} | ${fixed(r.fill.ledgerWrites / r.fill.pools, 2)} | ${fixed(r.sizes.largestBytes / KiB)} | ${fixed(r.sizes.totalBytes / KiB)} | ${fixed(r.rssMiB.controller, 0)} | ${fixed(r.rssMiB.apiserver, 0)} | ${fixed(r.load?.sweepMs, 0)} | ${fixed(r.load?.p50Ms, 2)} / ${fixed(r.load?.p99Ms, 2)} |`);
  }
  return lines.join("\n");
}

/** Deletes what this bench makes (also what an interrupted run left): Deployments, then pools, then the subnet. */
async function cleanUp(): Promise<void> {
  // The Deployments go first: while one exists, the controller reserves again a pool deleted under it.
  if (await orUndefined(core.readNamespace({ name: NAMESPACE }))) {
    await orUndefined(core.deleteNamespace({ name: NAMESPACE })); // the namespace controller deletes its Deployments by collection
    await waitFor(`namespace ${NAMESPACE} to be gone`, 30 * 60_000, async () => ((await orUndefined(core.readNamespace({ name: NAMESPACE }))) ? undefined : true));
  }
  const pool = { group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool, labelSelector: POOL_SELECTOR };
  // Each pool's finalizer holds it until the controller has released its claim (one by one, in
  // its sweep): wait as long as the count keeps falling.
  let fewest = Infinity;
  let progressAt = Date.now();
  for (;;) {
    const items = ((await custom.listClusterCustomObject(pool)) as { items: Array<{ metadata: { deletionTimestamp?: string } }> }).items;
    if (items.length === 0) break;
    if (items.some((p) => !p.metadata.deletionTimestamp)) await custom.deleteCollectionClusterCustomObject(pool);
    if (items.length < fewest) [fewest, progressAt] = [items.length, Date.now()];
    else if (Date.now() - progressAt > 5 * 60_000) throw new Error(`${items.length} pools labelled ${POOL_SELECTOR} still there after 5 minutes without progress; see ${stateDir}/logs/pinpool-controller.log`);
    console.log(`clean-up: ${items.length} pools being deleted`);
    await sleep(10_000);
  }
  await deleteSpiderObjects(custom, PLURAL.SpiderSubnet, [SUBNET], 120_000);
}

const rows: Row[] = [];
// Ctrl-C (or SIGTERM) stops the fill and cleans up; a second Ctrl-C leaves everything as it is.
const interrupt = (signal: string) => (): void => {
  interrupted = true;
  console.log(`${signal}: stopping, then cleaning up (again to leave everything as it is)`);
};
process.once("SIGINT", interrupt("SIGINT"));
process.once("SIGTERM", interrupt("SIGTERM"));
try {
  await cleanUp();
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderSubnet, body: { apiVersion: `${GROUP}/${VERSION}`, kind: "SpiderSubnet", metadata: { name: SUBNET }, spec: SUBNET_SPEC } });
  await makePods(podCount);
  for (const checkpoint of checkpoints) {
    const [before, start, writesBefore] = [created, Date.now(), await configMapWrites()];
    await fillTo(checkpoint);
    const [pools, seconds] = [created - before, (Date.now() - start) / 1000];
    if (pools > 0) await sleep(quietMs); // the writes counted include the fill's settlements
    const fill = { pools, seconds, ledgerWrites: (await configMapWrites()) - writesBefore };
    // A fill cut short still gets its row (sizes and RSS where it stopped), without samples.
    rows.push(await measureRow(fill, !stopped()));
    if (stopped()) break;
  }
} catch (e) {
  firstError ??= describe(e);
} finally {
  if (firstError !== undefined) console.log(`stopped at ${created} pools by the first error: ${firstError}`);
  else if (interrupted) console.log(`interrupted at ${created} pools`);
  console.log(`\n${table(rows)}\n\n${machine()}; ${podCount} pods; ${concurrency} creates at a time in the fill, ${sampleCount} samples per checkpoint\n`);
  try {
    if (flags.keep) console.log(`--keep: left in place (namespace ${NAMESPACE}, SpiderIPPools -l ${POOL_SELECTOR}, SpiderSubnet ${SUBNET}); npm run cluster:down removes the cluster's state`);
    else await cleanUp();
  } catch (e) {
    console.error(`clean-up: ${describe(e)}; what is left: namespace ${NAMESPACE}, SpiderIPPools -l ${POOL_SELECTOR}, SpiderSubnet ${SUBNET}`);
    process.exitCode = 1;
  }
  await controller.stop();
}
