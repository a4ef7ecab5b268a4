/**
 * The controller's reconcilers against the real API server and controller-manager:
 * orphaned reservations, a pool's deletion waiting for its pods, the resize backstop, and
 * leader failover. The local controller runs with a 5 s grace period, 1 s resync and 6 s
 * lease (scripts/cluster/controller.ts LOCAL_TIMINGS).
 */
import { storedSubnetClaims } from "../../scripts/cluster/ledger.js";
import { readFileSync } from "node:fs";
import path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { autoPoolName } from "../../src/api/names.js";
import { GROUP, PLURAL, type SpiderIPPool, VERSION } from "../../src/api/types.js";
import { parseAddress } from "../../src/ip/address.js";
import { AllocationRecord } from "../../src/ip/allocation-record.js";
import { compareAndSwap } from "../../src/k8s/cas.js";
import { PoolClient } from "../../src/k8s/resources.js";
import { CONTROLLER_NAMESPACE, renderWebhooks, startLocalController } from "../../scripts/cluster/controller.js";
import { createNamespace, kubectl, kubectlOk, uniqueName, waitFor } from "../../scripts/cluster/local.js";
import { LOCAL_PORTS } from "../../scripts/cluster/ports.js";
import { deploymentYaml, poolYaml, refusingPolicyYaml, rows, subnetYaml } from "./manifests.js";
import { cluster, pinpoolController, replaceController } from "./setup.js";

/** The pool, or undefined once it is gone. */
function getPool(name: string): Promise<SpiderIPPool | undefined> {
  return new PoolClient(cluster().custom).get(name);
}

async function subnetLedger(name: string): Promise<Record<string, unknown>> {
  return storedSubnetClaims(cluster().core, cluster().custom, name);
}

/** Writes an allocation straight into a pool's status (what the agent does on ADD). */
async function allocate(pool: string, address: string, holder: string): Promise<void> {
  // A compare-and-swap, as the agent's: the count reconciler may write the status meanwhile.
  await compareAndSwap(`SpiderIPPool "${pool}" allocations`, async () => {
    const current = (await getPool(pool)) as SpiderIPPool;
    const record = AllocationRecord.decode(4, current.status?.allocations);
    record.allocate(parseAddress(address).value, holder);
    await cluster().custom.replaceClusterCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      plural: PLURAL.SpiderIPPool,
      name: pool,
      body: { ...current, status: { ...current.status, allocations: record.encode(), allocatedIPCount: record.count } },
    });
  });
}

const gone = (name: string) => async (): Promise<true | undefined> => ((await getPool(name)) ? undefined : true);

async function leaseHolder(): Promise<string | undefined> {
  const lease = await cluster().kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ namespace: CONTROLLER_NAMESPACE, name: "pinpool-controller" });
  return lease.spec?.holderIdentity || undefined;
}

describe("controller reconcilers through the real API server", function () {
  this.timeout(300_000);
  let namespace: string;
  const subnets: string[] = [];

  before(async () => {
    await pinpoolController();
  });

  beforeEach(async () => {
    namespace = await createNamespace(cluster().core);
  });

  afterEach(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    await replaceController(); // the usual controller, whatever a test did to it
    // Subnets go once the controller has released their pools.
    for (const s of subnets.splice(0)) {
      await waitFor(`SpiderSubnet ${s} to be deletable`, 60_000, async () => ((await kubectl(["delete", "ss", s, "--ignore-not-found"])).code === 0 ? true : undefined));
    }
  });

  async function subnetFor(cidr: string, ips: string): Promise<string> {
    const name = uniqueName("ctl-subnet");
    subnets.push(name);
    await kubectlOk(["apply", "-f", "-"], subnetYaml(name, cidr, ips));
    return name;
  }

  it("a Deployment created and deleted while no reconciler runs leaves no pool within 1 minute of the controller's return", async () => {
    await replaceController({ env: { PINPOOL_RECONCILERS: "off" } }); // webhooks only
    const subnet = await subnetFor("10.61.0.0/16", "10.61.0.10-10.61.0.200");
    const auto = autoPoolName({ namespace, kind: "Deployment", name: "orphan" }, "eth0", 4, subnet);
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("orphan", 2, { "ipam.spidernet.io/subnet": `{"ipv4":["${subnet}"]}` }));
    await kubectlOk(["delete", "-n", namespace, "deploy", "orphan", "--wait=true"]);
    await new Promise((r) => setTimeout(r, 7_000)); // longer than grace + resync: nobody reconciles
    expect(await getPool(auto), "the reservation outlives its Deployment while no reconciler runs").to.not.equal(undefined);
    expect(await subnetLedger(subnet)).to.have.property(auto);

    const back = Date.now();
    await replaceController();
    await waitFor(`pool ${auto} to be deleted`, 60_000, gone(auto));
    console.log(`      (orphaned pool deleted ${((Date.now() - back) / 1000).toFixed(1)} s after the controller returned)`);
    expect(await subnetLedger(subnet)).to.not.have.property(auto);
    expect(rows(await kubectlOk(["get", "ss", subnet]))[1]?.[3]).to.equal("0");
  });

  it("a pool reserved for a Deployment that a later admission step refused is removed after the grace period", async () => {
    const subnet = await subnetFor("10.62.0.0/16", "10.62.0.10-10.62.0.200");
    const policy = refusingPolicyYaml("pinpool-test-refuse", { group: "apps", version: "v1", resource: "deployments", operation: "CREATE" }, "!has(object.metadata.labels) || !('pinpool-test/refuse' in object.metadata.labels)");
    await kubectlOk(["apply", "-f", "-"], policy);
    try {
      const refused = deploymentYaml("refused", 1, { "ipam.spidernet.io/subnet": `{"ipv4":["${subnet}"]}` }).replace("metadata:\n  name: refused", "metadata:\n  name: refused\n  labels: { pinpool-test/refuse: \"yes\" }");
      // The policy takes effect through an informer: wait until a dry run is refused.
      await waitFor("the test policy to refuse", 30_000, async () => ((await kubectl(["create", "--dry-run=server", "-n", namespace, "-f", "-"], refused)).stderr.includes("refused by the test policy") ? true : undefined));
      const auto = autoPoolName({ namespace, kind: "Deployment", name: "refused" }, "eth0", 4, subnet);
      const created = await kubectl(["create", "-n", namespace, "-f", "-"], refused);
      expect(created.stderr).to.include("refused by the test policy");
      expect(await getPool(auto), "the mutating webhook reserved before the policy refused").to.not.equal(undefined);
      await waitFor(`pool ${auto} to be deleted`, 60_000, gone(auto));
      expect(await subnetLedger(subnet)).to.not.have.property(auto);
    } finally {
      await kubectl(["delete", "-f", "-"], policy);
    }
  });

  it("deleting a pool whose addresses a pod holds waits, says so in a condition and an event, and finishes when the pod goes", async () => {
    const name = uniqueName("ctl-held");
    await kubectlOk(["apply", "-f", "-"], poolYaml(name, "10.63.0.0/24", "10.63.0.10-10.63.0.12"));
    await cluster().core.createNamespacedPod({ namespace, body: { metadata: { name: "holder" }, spec: { containers: [{ name: "c", image: "nginx" }] } } });
    await allocate(name, "10.63.0.10", `${namespace}/holder`);
    expect(await kubectlOk(["delete", "sp", name, "--wait=false"])).to.equal(`spiderippool.spiderpool.spidernet.io "${name}" deleted\n`);

    const message = `waiting for 1 allocated addresses to be released (held by "${namespace}/holder"); the pool is deleted when their pods are gone`;
    const condition = await waitFor("the Deleting condition", 30_000, async () => (await getPool(name))?.status?.conditions?.find((c) => c.type === "Deleting"));
    expect(condition).to.deep.include({ status: "True", reason: "AddressesInUse", message });
    // The event follows the condition's write.
    const event = await waitFor("the WaitingForPods event", 10_000, async () => {
      const events = await cluster().core.listNamespacedEvent({ namespace: "default", fieldSelector: `involvedObject.name=${name}` });
      return events.items.find((e) => e.reason === "WaitingForPods");
    });
    expect(event.message).to.equal(message);
    // The leader exports the pool's gauges while it waits.
    const metrics = await (await fetch(`http://127.0.0.1:${(await pinpoolController()).metricsPort}/metrics`)).text();
    expect(metrics).to.include(`pinpool_ippool_allocated_ips{pool="${name}"} 1`);
    expect(metrics).to.include("pinpool_controller_leader 1");

    await cluster().core.deleteNamespacedPod({ namespace, name: "holder", gracePeriodSeconds: 0 });
    await waitFor(`pool ${name} to be deleted`, 60_000, gone(name));
    // Its addresses went back to the cluster ledger: a new pool may take them.
    await kubectlOk(["apply", "-f", "-"], poolYaml(uniqueName("ctl-again"), "10.63.0.0/24", "10.63.0.10-10.63.0.12"));
  });

  it("resizes a pool to replicas + N when a scale bypassed the webhook (outage: /scale fails open, workloads fail closed)", async () => {
    const subnet = await subnetFor("10.64.0.0/16", "10.64.0.10-10.64.0.200");
    const auto = autoPoolName({ namespace, kind: "Deployment", name: "grow" }, "eth0", 4, subnet);
    const annotations = { "ipam.spidernet.io/subnet": `{"ipv4":["${subnet}"]}`, "ipam.spidernet.io/ippool-ip-number": "+1" };
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("grow", 2, annotations));
    expect((await getPool(auto))?.status?.totalIPCount).to.equal(3);
    // The outage: the webhooks stay registered, but nothing answers at their address.
    await kubectlOk(["apply", "-f", "-"], renderWebhooks(readFileSync(path.join((await pinpoolController()).certDir, "ca.crt"), "utf8"), "https://127.0.0.1:1"));
    const another = deploymentYaml("refused", 1, annotations);
    const refused = await waitFor("the API server to call the unreachable webhooks", 30_000, async () => {
      const r = await kubectl(["create", "--dry-run=server", "-n", namespace, "-f", "-"], another);
      return r.stderr.includes('failed calling webhook "workloads.pinpool.io"') ? r.stderr : undefined;
    });
    expect(refused).to.include("connection refused"); // an annotated Deployment fails closed
    await kubectlOk(["scale", "-n", namespace, "deploy", "grow", "--replicas", "4"]); // scale.pinpool.io: failurePolicy Ignore
    // pinpool is back (the webhooks answer again, so the sweep's pool write is admitted).
    await replaceController();
    const total = await waitFor("the backstop to resize the pool", 60_000, async () => {
      const t = (await getPool(auto))?.status?.totalIPCount;
      return t === 5 ? t : undefined;
    });
    expect(total).to.equal(5);
    expect(await kubectlOk(["get", "sp", auto, "-o", "jsonpath={.spec.ips}"])).to.equal('["10.64.0.10-10.64.0.14"]');
    // Adopted by the Deployment's UID in an annotation, never an ownerReference (the GC refuses cluster-scoped → namespaced).
    const uid = await kubectlOk(["get", "deploy", "-n", namespace, "grow", "-o", "jsonpath={.metadata.uid}"]);
    expect(await kubectlOk(["get", "sp", auto, "-o", "jsonpath={.metadata.annotations.pinpool\\.io/adopted-by-uid}"])).to.equal(uid);
    expect(await kubectlOk(["get", "sp", auto, "-o", "jsonpath={.metadata.ownerReferences}"])).to.equal("");
  });

  it("a killed leader's work is taken over by another replica within 30 s", async () => {
    const first = await pinpoolController();
    const second = await startLocalController(cluster().kubeconfigPath, { name: "pinpool-controller-2", port: LOCAL_PORTS.webhook + 1, metricsPort: LOCAL_PORTS.controllerMetrics + 2, register: false });
    try {
      const holder = await waitFor("a leader", 30_000, leaseHolder);
      expect([first.identity, second.identity]).to.include(holder);
      const [leader, survivor] = holder === first.identity ? [first, second] : [second, first];
      const pool = uniqueName("ctl-failover");
      await kubectlOk(["apply", "-f", "-"], poolYaml(pool, "10.65.0.0/24", "10.65.0.10-10.65.0.12"));

      await leader.stop("SIGKILL");
      const killed = Date.now();
      await allocate(pool, "10.65.0.10", `${namespace}/ghost`); // a pod that does not exist
      await waitFor("the survivor to release the ghost's address", 30_000, async () => ((await getPool(pool))?.status?.allocations?.ips.length ? undefined : true));
      const took = (Date.now() - killed) / 1000;
      console.log(`      (leader SIGKILLed; ${survivor.identity} released the orphaned address ${took.toFixed(1)} s later)`);
      expect(await leaseHolder()).to.equal(survivor.identity);
    } finally {
      await second.stop();
    }
  });
});
