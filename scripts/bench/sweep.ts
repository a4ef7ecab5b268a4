/**
 * npm run bench:sweep — what the ledger checks cost the leader's sweep. Prints; asserts
 * nothing. 1,000 pools in one SpiderSubnet (admitted by the real webhooks, so their claims
 * are in its ledger), then, in process against the real API server: the whole sweep, and
 * apart from it its steps — the snapshot, the trim, the repair and the conflict check.
 * "Before the repair step" is the sweep less the repair and conflict steps.
 */
import { Registry } from "prom-client";
import { GROUP, PLURAL, VERSION } from "../../src/api/types.js";
import { LedgerReconciler } from "../../src/controller/ledger-reconciler.js";
import { Reconciler } from "../../src/controller/reconciler.js";
import { ClusterCache } from "../../src/controller/cluster-cache.js";
import { ReconcileMetrics } from "../../src/metrics/reconcile.js";
import { AllocationWriter } from "../../src/reservation/allocations.js";
import { LedgerStores } from "../../src/reservation/ledger-store.js";
import { ReservedIPs } from "../../src/reservation/reserved-ips.js";
import { CONTROLLER_NAMESPACE, startLocalController } from "../cluster/controller.js";
import { deleteSpiderObjects, kubectlOk, localClients, waitFor } from "../cluster/local.js";
import { formatStats, summarise } from "./stats.js";

const POOLS = 1_000;
const ROUNDS = 10;
const SUBNET = "bench-sweep";

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const { kubeconfig, kc, core, apps, custom } = await localClients();
// Webhooks only: the bench's own in-process reconciler is the only one sweeping.
const controller = await startLocalController(kubeconfig, { env: { PINPOOL_RECONCILERS: "off" } });
await kubectlOk(["apply", "-f", "-"], `{"apiVersion":"${GROUP}/${VERSION}","kind":"SpiderSubnet","metadata":{"name":"${SUBNET}"},"spec":{"subnet":"10.91.0.0/16","ips":["10.91.0.1-10.91.255.254"]}}`);
const names = Array.from({ length: POOLS }, (_, i) => `bench-sweep-${i}`);
try {
  for (let i = 0; i < POOLS; i += 25) {
    await Promise.all(
      names.slice(i, i + 25).map((name, j) => {
        const n = i + j;
        const ips = `10.91.${n >> 4}.${(n & 15) * 16 + 1}-10.91.${n >> 4}.${(n & 15) * 16 + 10}`;
        return custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool, body: { apiVersion: `${GROUP}/${VERSION}`, kind: "SpiderIPPool", metadata: { name }, spec: { subnet: "10.91.0.0/16", ips: [ips] } } });
      }),
    );
  }
  const stores = new LedgerStores({ kc, core, custom, namespace: CONTROLLER_NAMESPACE, ledgerName: "pinpool-ledger" });
  await stores.start();
  const metrics = new ReconcileMetrics(new Registry());
  const quiet = { info: () => undefined, error: (o: object, m: string) => console.error(m, o) };
  const deps = { kc, core, apps, custom, stores, allocations: new AllocationWriter(custom), reserved: new ReservedIPs(custom), metrics, log: { ...quiet, warn: quiet.error } };
  // Sweeps back to back, 200 ms apart; its own histogram times them.
  // Every sweep a full one: the figure is the cost of judging everything.
  const reconciler = new Reconciler(deps, { graceMs: 60_000, intervalMs: 200, fullResyncMs: 0 });
  const sweepCount = async (): Promise<{ sum: number; count: number }> => {
    const values = (await metrics.sweepDuration.get()).values;
    return { sum: values.find((v) => v.metricName?.endsWith("_sum"))?.value ?? 0, count: values.find((v) => v.metricName?.endsWith("_count"))?.value ?? 0 };
  };
  reconciler.start();
  await waitFor(`${ROUNDS} sweeps`, 600_000, async () => ((await sweepCount()).count >= ROUNDS ? true : undefined));
  await reconciler.stop();
  const { sum, count } = await sweepCount();
  const sweepMs = (sum / count) * 1000;

  const ledgers = new LedgerReconciler({ ...deps, ripe: () => [], done: () => undefined, later: () => undefined, guarded: async (_s, _n, act) => act() });
  const cache = new ClusterCache(kc, (what, e) => console.error(`watch of ${what} failed`, e));
  await cache.start();
  const steps = { snapshot: [] as number[], trim: [] as number[], repair: [] as number[], conflicts: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    let s = cache.snapshot();
    steps.snapshot.push(await timed(() => Promise.resolve((s = cache.snapshot()))));
    steps.trim.push(await timed(() => ledgers.trim(s, Date.now())));
    steps.repair.push(await timed(() => ledgers.repair(s)));
    steps.conflicts.push(await timed(() => ledgers.showConflicts(s)));
  }
  const p50 = (xs: number[]): number => summarise(xs).p50;
  const added = p50(steps.repair) + p50(steps.conflicts);
  console.log(`leader sweep with ${POOLS} pools in one subnet:`);
  console.log(`  whole sweep (mean of ${count}): ${sweepMs.toFixed(1)} ms`);
  for (const [step, xs] of Object.entries(steps)) console.log(`  ${step} (${ROUNDS} rounds): ${formatStats(summarise(xs))}`);
  await cache.stop();
  console.log(`  before the repair step (sweep less repair and conflict check): ${(sweepMs - added).toFixed(1)} ms; with them: ${sweepMs.toFixed(1)} ms (+${((added / (sweepMs - added)) * 100).toFixed(0)}%)`);
} finally {
  // The pools' finalizers are released by a reconciler: the usual one, back for the clean-up.
  await controller.stop();
  const cleanup = await startLocalController(kubeconfig);
  await deleteSpiderObjects(custom, PLURAL.SpiderIPPool, names, 300_000).catch((e: unknown) => console.error(`clean-up of the bench pools: ${(e as Error).message}`));
  await deleteSpiderObjects(custom, PLURAL.SpiderSubnet, [SUBNET], 60_000).catch((e: unknown) => console.error(`clean-up of the bench subnet: ${(e as Error).message}`));
  await cleanup.stop();
}
