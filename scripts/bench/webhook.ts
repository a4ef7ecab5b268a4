/**
 * npm run bench:webhook — admission figures. Prints; asserts nothing.
 *  1. decide() for a pool CREATE with 10,000 pools present (pure, in process);
 *  2. HTTPS admission throughput, load generator in its own process on loopback, for
 *     reviews that need no write (UPDATE of a reserved Deployment; DELETE of a pool that
 *     holds no claim), against the real controller and API server;
 *  3. wall time of 100 reserving Deployment creates through the real API server, 10 at a time.
 */
import os from "node:os";
import * as k8s from "@kubernetes/client-node";
import { parseAddressSpec } from "../../src/api/address-spec.js";
import { GROUP, PLURAL, RELEASE_FINALIZER, VERSION } from "../../src/api/types.js";
import { parseCidr } from "../../src/ip/cidr.js";
import { RangeSet } from "../../src/ip/range-set.js";
import { ClusterLedger } from "../../src/reservation/ledger.js";
import { SubnetLedger } from "../../src/reservation/subnet-ledger.js";
import { parseAdmissionReview } from "../../src/webhook/admission.js";
import { decidePoolInCluster, decidePoolInSubnet, preparePool } from "../../src/webhook/validate-pool.js";
import { type LocalController, PRODUCTION_TIMINGS, startLocalController } from "../cluster/controller.js";
import { createNamespace, deleteSpiderObjects, kubectlOk, localClients } from "../cluster/local.js";
import { SIM_SCHEDULER } from "../cluster/node-sim.js";
import { loadReview } from "../../test/fixtures/load.js";
import { formatStats, measure } from "./stats.js";
import { formatLoad, labelUpdateReview, loadWebhook } from "./webhook-load.js";

const POOLS = 10_000;

function poolCreateReview(name: string, subnet: string, ips: string): Record<string, unknown> {
  const review = loadReview("spiderippool-create");
  const request = review.request as { object: { metadata: { name: string }; spec: { subnet: string; ips: string[] } } };
  request.object.metadata.name = name;
  request.object.spec.subnet = subnet;
  request.object.spec.ips = [ips];
  return review;
}

function benchDecide(): void {
  const subnet = parseAddressSpec({ subnet: "10.0.0.0/8", ips: ["10.0.0.1-10.255.255.254"] });
  const pools = new Map(Array.from({ length: POOLS }, (_, i) => [`pool-${i}`, { addresses: RangeSet.of(4, 0x0a000000n + BigInt(i) * 256n + 1n, 0x0a000000n + BigInt(i) * 256n + 100n) }]));
  const ledgerJson = SubnetLedger.of(4, pools).encode();
  // Requests are parsed before timing: the figure is the decision, not the fixture loading.
  const candidates = Array.from({ length: 1_000 }, (_, k) => {
    const i = (k * 7919) % 12_000; // some land on existing pools (denied), most between them
    return parseAdmissionReview(poolCreateReview(`new-${k}`, "10.0.0.0/8", `10.${(i >> 8) & 255}.${i & 255}.120-10.${(i >> 8) & 255}.${i & 255}.140`));
  });
  let k = 0;
  const candidate = (): (typeof candidates)[number] => candidates[k++ % candidates.length] as (typeof candidates)[number];
  const decode = measure(20, () => SubnetLedger.decode(4, ledgerJson));
  const warm = SubnetLedger.decode(4, ledgerJson);
  const firstDecide = measure(20, () => {
    const fresh = warm.with("just-written", { addresses: RangeSet.of(4, 0x0b000000n) }); // as after a write: index not built yet
    const p = preparePool(candidate());
    return "pool" in p ? decidePoolInSubnet(p.pool, "s", subnet, fresh) : p;
  });
  const decide = measure(5_000, () => {
    const p = preparePool(candidate());
    return "pool" in p ? decidePoolInSubnet(p.pool, "s", subnet, warm) : p;
  });
  console.log(`decide, pool CREATE in a subnet with ${POOLS} pools (ledger parsed, index built): ${formatStats(decide)}`);
  console.log(`  first decide after the ledger changed (builds the overlap index): ${formatStats(firstDecide)}`);
  console.log(`  parsing that ledger from status.controlledIPPools (${(ledgerJson.length / 1024).toFixed(0)} KiB): ${formatStats(decode)}`);

  let cluster = ClusterLedger.empty();
  for (let i = 0; i < POOLS; i++) cluster = cluster.with("pools", `pool-${i}`, { cidr: parseCidr("10.0.0.0/8"), addresses: pools.get(`pool-${i}`)?.addresses as RangeSet });
  const orphan = measure(5_000, () => {
    const p = preparePool(candidate());
    return "pool" in p ? decidePoolInCluster(p.pool, cluster) : p;
  });
  console.log(`decide, pool CREATE outside any subnet with ${POOLS} pools sharing its CIDR: ${formatStats(orphan)}`);
}

async function load(label: string, controller: LocalController, route: "/mutate" | "/validate", review: unknown, connections: number): Promise<void> {
  console.log(`  ${label}: ${formatLoad(await loadWebhook(controller, route, review, connections, "20000"), connections)}`);
}

async function benchCluster(): Promise<void> {
  const { kubeconfig, core, apps, custom } = await localClients();
  const controller = await startLocalController(kubeconfig, { env: PRODUCTION_TIMINGS });
  const ns = await createNamespace(core, "bench");
  const subnet = `bench-${ns}`;
  // Outside the try: a refused subnet (one left by an interrupted run overlaps it) is the
  // error to see, not a failed clean-up of a subnet that never existed.
  await kubectlOk(["apply", "-f", "-"], `{"apiVersion":"${GROUP}/${VERSION}","kind":"SpiderSubnet","metadata":{"name":"${subnet}"},"spec":{"subnet":"10.90.0.0/16","ips":["10.90.0.1-10.90.255.254"]}}`);
  try {
    const annotations = { "ipam.spidernet.io/subnet": `{"ipv4":["${subnet}"]}`, "ipam.spidernet.io/ippool-ip-number": "+3" };
    const deployment = (name: string): k8s.V1Deployment => ({
      metadata: { name },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name }, annotations }, spec: { schedulerName: SIM_SCHEDULER, containers: [{ name: "c", image: "nginx" }] } },
      },
    });
    // 3. 100 reserving creates, 10 at a time.
    const t = Date.now();
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => apps.createNamespacedDeployment({ namespace: ns, body: deployment(`d${batch * 10 + i}`) })));
    }
    const wall = (Date.now() - t) / 1000;
    const pools = (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool, labelSelector: `ipam.spidernet.io/owner-spider-subnet=${subnet}` })) as { items: unknown[] };
    console.log(`100 reserving Deployment creates through the API server, 10 at a time: ${wall.toFixed(2)} s (${(100 / wall).toFixed(1)}/s; ${pools.items.length} pools reserved)`);

    // 2. Throughput of reviews that need no write.
    const update = labelUpdateReview(await apps.readNamespacedDeployment({ namespace: ns, name: "d0" }));
    console.log("HTTPS admission throughput (real controller; load generator in its own process):");
    for (const connections of [8, 32]) {
      await load("UPDATE of a reserved Deployment (no API call)", controller, "/mutate", update, connections);
    }
    const del = poolCreateReview("never-claimed", "10.90.0.0/16", "10.90.200.1-10.90.200.9");
    const dreq = del.request as Record<string, unknown>;
    [dreq.operation, dreq.oldObject, dreq.object] = ["DELETE", dreq.object, null];
    // Admission never releases (the controller does, once the pool is gone): no DELETE makes an API call.
    (dreq.oldObject as { metadata: { finalizers?: string[] } }).metadata.finalizers = [RELEASE_FINALIZER];
    await load("DELETE of a pool (no API call: the controller releases once it is gone)", controller, "/validate", del, 32);
  } finally {
    await core.deleteNamespace({ name: ns });
    const pools = (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool, labelSelector: `ipam.spidernet.io/owner-spider-subnet=${subnet}` })) as { items: Array<{ metadata: { name: string } }> };
    // The controller releases the pools at its next sweep (10 s apart with production timings).
    await deleteSpiderObjects(custom, PLURAL.SpiderIPPool, pools.items.map((p) => p.metadata.name), 120_000);
    await deleteSpiderObjects(custom, PLURAL.SpiderSubnet, [subnet]);
    await controller.stop();
  }
}

console.log(`bench:webhook on ${os.cpus()[0]?.model ?? "unknown CPU"}, nproc ${os.availableParallelism()}, node ${process.version}`);
benchDecide();
await benchCluster();
