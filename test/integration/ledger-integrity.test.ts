/**
 * Ledger integrity against the real API server: admission only adds (a forged or refused
 * DELETE frees nothing), the leader repairs ledgers from the stored objects (break glass, a
 * wiped subnet status), shows conflicts instead of choosing a winner, orders grow against
 * shrink, and the webhook answers only the API server (mutual TLS).
 */
import { deleteSubnetLedger, storedSubnetLedger } from "../../scripts/cluster/ledger.js";
import { readFileSync } from "node:fs";
import https from "node:https";
import path from "node:path";
import { expect } from "chai";
import { parseAddressSpec } from "../../src/api/address-spec.js";
import { autoPoolName } from "../../src/api/names.js";
import { RELEASE_FINALIZER, type SpiderIPPool } from "../../src/api/types.js";
import { Ipam } from "../../src/agent/ipam.js";
import { CniError, type CniRequest } from "../../src/agent/protocol.js";
import { PoolClient, SubnetClient } from "../../src/k8s/resources.js";
import { findConflicts } from "../../src/reservation/conflicts.js";
import { SubnetLedger } from "../../src/reservation/subnet-ledger.js";
import type { RangeSet } from "../../src/ip/range-set.js";
import { LedgerStores } from "../../src/reservation/ledger-store.js";
import { planReservation } from "../../src/reservation/plan.js";
import { reserve } from "../../src/reservation/reserve.js";
import { ReservedIPs } from "../../src/reservation/reserved-ips.js";
import { CONTROLLER_NAMESPACE, unregisterWebhooks, webhookClientCertificate } from "../../scripts/cluster/controller.js";
import { kubectl, kubectlOk, uniqueName, waitFor } from "../../scripts/cluster/local.js";
import { deploymentYaml, poolYaml, refusingPolicyYaml, subnetYaml } from "./manifests.js";
import { scratchPerTest } from "./scratch.js";
import { cluster, pinpoolController, replaceController } from "./setup.js";

const pools = (): PoolClient => new PoolClient(cluster().custom);
const subnets = (): SubnetClient => new SubnetClient(cluster().custom);

async function ledgerOf(subnet: string): Promise<SubnetLedger> {
  return (await storedSubnetLedger(cluster().core, cluster().custom, subnet)).ledger;
}

/**
 * Pool `name`'s addresses and its claim in `subnet`'s ledger at one instant. Grows write the
 * claim then the pool, shrinks the pool then the claim, and the resize sweep runs on while the
 * test reads: the pool is read between two reads of the ledger that find it unchanged, so the
 * claim is the one that stood while the pool was read (else the reads run again).
 */
async function poolWithClaim(name: string, subnet: string): Promise<{ pool: RangeSet; claim: RangeSet | undefined }> {
  for (let attempt = 1; attempt <= 50; attempt++) {
    const before = await storedSubnetLedger(cluster().core, cluster().custom, subnet);
    const pool = parseAddressSpec(((await pools().get(name)) as SpiderIPPool).spec).addresses;
    const after = await storedSubnetLedger(cluster().core, cluster().custom, subnet);
    if (before.versions === after.versions) return { pool, claim: after.ledger.pools.get(name)?.addresses };
  }
  throw new Error(`SpiderSubnet "${subnet}" changed during each of 50 reads of SpiderIPPool "${name}"`);
}

/** Claims as text, pool → ranges, for comparisons that ignore revisions. */
async function claimsOf(subnet: string): Promise<Record<string, string>> {
  return Object.fromEntries([...(await ledgerOf(subnet)).pools].map(([name, c]) => [name, c.addresses.toString()]));
}

/** No two stored pools share an address. */
async function noSharedAddresses(): Promise<void> {
  const holdings = (await pools().list()).map((p) => ({ name: p.metadata.name as string, addresses: parseAddressSpec(p.spec).addresses }));
  expect(findConflicts(holdings).map((c) => `${c.a} and ${c.b} share ${c.shared.toString()}`)).to.deep.equal([]);
}

/** POSTs a review to the running webhook, with or without the API server's client certificate. */
function postReview(urlPath: string, review: object, withClientCertificate: boolean): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    void pinpoolController().then((c) => {
      const client = webhookClientCertificate();
      const req = https.request(
        {
          host: "127.0.0.1",
          port: c.port,
          path: urlPath,
          method: "POST",
          ca: readFileSync(path.join(c.certDir, "ca.crt")),
          ...(withClientCertificate ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
          headers: { "content-type": "application/json" },
        },
        (res) => {
          let data = "";
          res.on("data", (d: Buffer) => (data += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) as Record<string, unknown> }));
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify(review));
    }, reject);
  });
}

const metric = async (name: string): Promise<string | undefined> => {
  const text = await (await fetch(`http://127.0.0.1:${(await pinpoolController()).metricsPort}/metrics`)).text();
  return text.split("\n").find((l) => l.startsWith(`${name} `))?.split(" ")[1];
};

describe("ledger integrity through the real API server", function () {
  this.timeout(300_000);
  // The controller again after each test: webhooks registered again, whatever a test did.
  const scratch = scratchPerTest(() => replaceController());
  const made = scratch.made;
  let namespace: string;
  beforeEach(() => {
    namespace = scratch.namespace();
  });

  async function subnet(cidr: string, ips: string): Promise<string> {
    const name = uniqueName("li-subnet");
    made.subnets.add(name);
    await kubectlOk(["apply", "-f", "-"], subnetYaml(name, cidr, ips));
    return name;
  }

  async function pool(cidr: string, ips: string, name = uniqueName("li-pool")): Promise<string> {
    made.pools.add(name);
    await kubectlOk(["apply", "-f", "-"], poolYaml(name, cidr, ips));
    return name;
  }

  it("a forged DELETE review frees nothing, with or without the API server's certificate; the overlapping pool is still refused", async () => {
    const s = await subnet("10.70.0.0/16", "10.70.0.1-10.70.255.254");
    const live = await pool("10.70.0.0/16", "10.70.120.10-10.70.120.20");
    const before = await claimsOf(s);
    expect(before).to.have.property(live, "10.70.120.10-10.70.120.20");
    const forged = {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: {
        uid: "forged-1",
        kind: { group: "spiderpool.spidernet.io", version: "v2beta1", kind: "SpiderIPPool" },
        resource: { group: "spiderpool.spidernet.io", version: "v2beta1", resource: "spiderippools" },
        operation: "DELETE",
        name: live,
        object: null,
        oldObject: { apiVersion: "spiderpool.spidernet.io/v2beta1", kind: "SpiderIPPool", metadata: { name: live }, spec: { ipVersion: 4, subnet: "10.70.0.0/16", ips: ["10.70.120.10-10.70.120.20"] } },
      },
    };
    const anonymous = await postReview("/validate", forged, false);
    expect(anonymous.status).to.equal(401);
    expect(anonymous.body.error).to.match(/^a client certificate signed by the API server's webhook client CA is required/);
    // Even a caller holding the certificate only gets a yes that changes nothing.
    const stolen = await postReview("/validate", forged, true);
    expect(stolen.body.response).to.deep.equal({ uid: "forged-1", allowed: true });
    await new Promise((r) => setTimeout(r, 2_500)); // two sweeps
    expect(await claimsOf(s)).to.deep.equal(before);
    const evil = await kubectl(["apply", "-f", "-"], poolYaml("li-evil-pool", "10.70.0.0/16", "10.70.120.10-10.70.120.20"));
    expect(evil.stderr).to.equal(
      `Error from server (Forbidden): error when creating "STDIN": admission webhook "validate.pinpool.io" denied the request: SpiderIPPool "li-evil-pool" overlaps SpiderIPPool "${live}" at 10.70.120.10-10.70.120.20\n`,
    );
  });

  it("a DELETE that a later admission step refuses keeps the pool's claim", async () => {
    const kept = await pool("10.73.0.0/24", "10.73.0.10-10.73.0.19");
    await kubectlOk(["label", "sp", kept, "pinpool-test/keep=yes"]);
    const policy = refusingPolicyYaml("pinpool-test-keep", { group: "spiderpool.spidernet.io", version: "v2beta1", resource: "spiderippools", operation: "DELETE" }, "!has(oldObject.metadata.labels) || !('pinpool-test/keep' in oldObject.metadata.labels)");
    await kubectlOk(["apply", "-f", "-"], policy);
    try {
      // The policy takes effect through an informer: wait until a dry run is refused.
      await waitFor("the test policy to refuse the delete", 30_000, async () => ((await kubectl(["delete", "sp", kept, "--dry-run=server"])).stderr.includes("refused by the test policy") ? true : undefined));
      const refused = await kubectl(["delete", "sp", kept, "--wait=false"]);
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.include("refused by the test policy");
      await new Promise((r) => setTimeout(r, 2_500)); // two sweeps
      const clash = await kubectl(["apply", "-f", "-"], poolYaml("li-clash", "10.73.0.0/24", "10.73.0.15-10.73.0.30"));
      expect(clash.stderr).to.include(`SpiderIPPool "li-clash" overlaps SpiderIPPool "${kept}" at 10.73.0.15-10.73.0.19`);
    } finally {
      await kubectl(["delete", "-f", "-"], policy);
      await kubectlOk(["label", "sp", kept, "pinpool-test/keep-"]);
    }
  });

  it("break glass: a pool made while the webhooks were off joins its subnet's ledger within a sweep; a Deployment reserved afterwards never gets its addresses", async () => {
    const s = await subnet("10.71.0.0/16", "10.71.0.10-10.71.0.100");
    await unregisterWebhooks();
    const glass = await pool("10.71.0.0/16", "10.71.0.10-10.71.0.14");
    expect((await pools().get(glass))?.metadata.finalizers ?? []).to.deep.equal([]); // no webhook defaulted it
    await replaceController();
    await waitFor(`pool ${glass} in the ledger of ${s}`, 15_000, async () => ((await claimsOf(s))[glass] === "10.71.0.10-10.71.0.14" ? true : undefined));
    await waitFor(`the finalizer on ${glass}`, 15_000, async () => ((await pools().get(glass))?.metadata.finalizers?.includes(RELEASE_FINALIZER) ? true : undefined));
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("after", 2, { "ipam.spidernet.io/subnet": `{"ipv4":["${s}"]}`, "ipam.spidernet.io/ippool-ip-number": "+1" }));
    const auto = autoPoolName({ namespace, kind: "Deployment", name: "after" }, "eth0", 4, s);
    made.pools.add(auto);
    expect(await kubectlOk(["get", "sp", auto, "-o", "jsonpath={.spec.ips}"])).to.equal('["10.71.0.15-10.71.0.17"]');
    await noSharedAddresses();
  });

  it("two pools made with the webhooks off that share addresses: both show the conflict, the gauge counts it, and no ADD hands out a shared address", async () => {
    await unregisterWebhooks();
    const a = await pool("10.72.0.0/24", "10.72.0.10-10.72.0.12", uniqueName("li-a"));
    const b = await pool("10.72.0.0/24", "10.72.0.11-10.72.0.20", uniqueName("li-b"));
    await replaceController();
    const condition = await waitFor("the Conflict condition", 15_000, async () => (await pools().get(a))?.status?.conditions?.find((c) => c.type === "Conflict"));
    expect(condition).to.deep.include({
      status: "True",
      reason: "AddressesShared",
      message: `shares 10.72.0.11-10.72.0.12 with SpiderIPPool "${b}"; pinpool hands out none of the shared addresses until one of the objects gives them up`,
    });
    expect((await pools().get(b))?.status?.conditions?.find((c) => c.type === "Conflict")?.message).to.match(new RegExp(`^shares 10\\.72\\.0\\.11-10\\.72\\.0\\.12 with SpiderIPPool "${a}"`));
    const event = await waitFor("the AddressConflict event", 10_000, async () => {
      const events = await cluster().core.listNamespacedEvent({ namespace: "default", fieldSelector: `involvedObject.name=${a}` });
      return events.items.find((e) => e.reason === "AddressConflict");
    });
    expect(event.type).to.equal("Warning");
    expect(await waitFor("the conflict gauge", 10_000, async () => ((await metric("pinpool_address_conflicts")) === "1" ? "1" : undefined))).to.equal("1");

    // The agent's IPAM (in process, against the same API server): 10.72.0.10 is A's only unshared address.
    const { core, apps, custom } = cluster();
    const ipam = new Ipam({ core, apps, custom, node: "li-node" });
    const add = async (pod: string): Promise<string> => {
      const created = await core.createNamespacedPod({
        namespace,
        body: { metadata: { name: pod, annotations: { "ipam.spidernet.io/ippool": `{"ipv4":["${a}"]}` } }, spec: { containers: [{ name: "c", image: "nginx" }] } },
      });
      const req: CniRequest = { command: "ADD", containerID: `c-${pod}`, ifName: "eth0", args: {}, cniVersion: "1.0.0", config: {}, pod: { namespace, name: pod, uid: created.metadata?.uid } };
      return (await ipam.add(req)).ips.map((i) => i.address).join(",");
    };
    expect(await add("first")).to.equal("10.72.0.10/24");
    let refusal: unknown;
    try {
      await add("second");
    } catch (e) {
      refusal = e;
    }
    expect(refusal).to.be.instanceOf(CniError);
    expect((refusal as CniError).code).to.equal(103);
    expect((refusal as CniError).msg).to.equal(`SpiderIPPool "${a}" shares 10.72.0.11-10.72.0.12 with SpiderIPPool "${b}"`);

    // Resolved by the operator: the condition and the gauge clear.
    await kubectlOk(["delete", "pod", "-n", namespace, "first", "second", "--grace-period=0", "--force"]);
    await kubectlOk(["delete", "sp", b, "--wait=true"]);
    made.pools.delete(b);
    await waitFor("the condition to clear", 15_000, async () => ((await pools().get(a))?.status?.conditions?.some((c) => c.type === "Conflict") ? undefined : true));
    expect(await metric("pinpool_address_conflicts")).to.equal("0");
  });

  it("a subnet whose stored ledger was deleted gets it rebuilt within a sweep, nothing double-claimed", async () => {
    const s = await subnet("10.74.0.0/16", "10.74.0.10-10.74.0.200");
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("web", 3, { "ipam.spidernet.io/subnet": `{"ipv4":["${s}"]}`, "ipam.spidernet.io/ippool-ip-number": "+2" }));
    made.pools.add(autoPoolName({ namespace, kind: "Deployment", name: "web" }, "eth0", 4, s));
    const manual = await pool("10.74.0.0/16", "10.74.0.50-10.74.0.59");
    const before = await claimsOf(s);
    expect(Object.keys(before)).to.have.length(2);
    await deleteSubnetLedger(cluster().core, cluster().custom, s);
    expect(await claimsOf(s)).to.deep.equal({});
    await waitFor("the ledger to be rebuilt", 15_000, async () => (JSON.stringify(await claimsOf(s)) === JSON.stringify(before) ? true : undefined));
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("next", 2, { "ipam.spidernet.io/subnet": `{"ipv4":["${s}"]}`, "ipam.spidernet.io/ippool-ip-number": "+1" }));
    made.pools.add(autoPoolName({ namespace, kind: "Deployment", name: "next" }, "eth0", 4, s));
    expect(await claimsOf(s)).to.include(before).and.to.have.property(manual, "10.74.0.50-10.74.0.59");
    await noSharedAddresses();
  });

  it("50 rounds of kubectl scale to 2 and to 6 at the same instant, sweeps running: every pool stays inside its ledger claim, no address shared", async () => {
    const s = await subnet("10.75.0.0/16", "10.75.0.10-10.75.0.60");
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("flap", 2, { "ipam.spidernet.io/subnet": `{"ipv4":["${s}"]}`, "ipam.spidernet.io/ippool-ip-number": "+1" }));
    const auto = autoPoolName({ namespace, kind: "Deployment", name: "flap" }, "eth0", 4, s);
    made.pools.add(auto);
    await pool("10.75.0.0/16", "10.75.0.30-10.75.0.40"); // a neighbour the flapping pool must never reach into
    for (let round = 1; round <= 50; round++) {
      // Each size twice, interleaved: more grows and shrinks in flight on one pool at once.
      await Promise.all(["2", "6", "2", "6"].map((replicas) => kubectlOk(["scale", "-n", namespace, "deploy", "flap", "--replicas", replicas])));
      const { pool: spec, claim } = await poolWithClaim(auto, s);
      expect(claim?.containsSet(spec), `round ${round}: pool ${spec.toString()} inside its claim ${claim?.toString()}`).to.equal(true);
      await noSharedAddresses();
    }
  });

  it("grows (admission) and shrinks (the resize sweep) of one pool, 16 at once over two processes' worth of lanes, 30 rounds: the pool never holds an address its claim lacks", async () => {
    const s = await subnet("10.77.0.0/16", "10.77.0.10-10.77.0.200");
    const workload = { namespace, kind: "Deployment" as const, name: "race" };
    const annotations = { "ipam.spidernet.io/subnet": `{"ipv4":["${s}"]}`, "ipam.spidernet.io/ippool-ip-number": "+1" };
    const auto = autoPoolName(workload, "eth0", 4, s);
    made.pools.add(auto);
    const { kc, core, custom } = cluster();
    // Two controller replicas: each has its own ledger cache and group-commit lane, as in a cluster.
    const replicas = [0, 1].map(() => ({ stores: new LedgerStores({ kc, core, custom, namespace: CONTROLLER_NAMESPACE, ledgerName: "pinpool-ledger" }), custom, reserved: new ReservedIPs(custom) }));
    await Promise.all(replicas.map((r) => r.stores.start()));
    after(() => Promise.all(replicas.map((r) => r.stores.stop())));
    const plan = (n: number) => planReservation(workload, annotations, { replicas: n }) as NonNullable<ReturnType<typeof planReservation>>;
    // The workload exists (else its pool is an orphan the controller deletes); the controller's resize backstop joins in.
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("race", 2, annotations));
    for (let round = 1; round <= 30; round++) {
      await Promise.all(Array.from({ length: 16 }, (_, i) => reserve(plan(i % 2 ? 6 : 2), replicas[i % 4 < 2 ? 0 : 1]!, false, { shrink: i % 2 === 0 })));
      const { pool: spec, claim } = await poolWithClaim(auto, s);
      expect(claim?.containsSet(spec), `round ${round}: pool ${spec.toString()} inside its claim ${claim?.toString()}`).to.equal(true);
    }
  });

  it("deleting a subnet waits for its pools (condition and event), then releases its claim", async () => {
    const s = await subnet("10.76.0.0/16", "10.76.0.10-10.76.0.200");
    const inside = await pool("10.76.0.0/16", "10.76.0.10-10.76.0.19");
    const refused = await kubectl(["delete", "ss", s]);
    expect(refused.stderr).to.equal(
      `Error from server (Forbidden): admission webhook "validate.pinpool.io" denied the request: SpiderSubnet "${s}" still hands addresses to SpiderIPPool "${inside}"; delete those pools (or their workloads) first\n`,
    );
    // With its ledger lost the review cannot tell (once the webhook's cache has seen it go); the finalizer still makes the deletion wait.
    await deleteSubnetLedger(cluster().core, cluster().custom, s);
    await waitFor("the webhook to admit the deletion", 10_000, async () => ((await kubectl(["delete", "ss", s, "--wait=false"])).code === 0 ? true : undefined));
    const message = `waiting for 1 SpiderIPPools in this subnet to be deleted ("${inside}"); the subnet is deleted when they are gone`;
    const condition = await waitFor("the Deleting condition", 15_000, async () => (await subnets().get(s))?.status?.conditions?.find((c) => c.type === "Deleting"));
    expect(condition).to.deep.include({ status: "True", reason: "PoolsInSubnet", message });
    const event = await waitFor("the WaitingForPools event", 10_000, async () => {
      const events = await cluster().core.listNamespacedEvent({ namespace: "default", fieldSelector: `involvedObject.name=${s}` });
      return events.items.find((e) => e.reason === "WaitingForPools");
    });
    expect(event.message).to.equal(message);
    await kubectlOk(["delete", "sp", inside, "--wait=true"]);
    made.pools.delete(inside);
    await waitFor(`subnet ${s} to be gone`, 15_000, async () => ((await subnets().get(s)) ? undefined : true));
    made.subnets.delete(s);
    // Its CIDR is free again.
    await subnet("10.76.0.0/16", "10.76.0.10-10.76.0.20");
  });
});
