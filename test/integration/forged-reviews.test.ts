/**
 * Forged reviews against the real API server's ledgers: the registered controller (mutual
 * TLS, the default) answers none, and a webhook-only replica with PINPOOL_CLIENT_AUTH=none
 * (a 6 s claim deadline, the least allowed; a low rate) shows what bounds a forger there: its claims are
 * settled at their deadline or as soon as it floods, never left for the sweep.
 */
import { storedSubnetClaims } from "../../scripts/cluster/ledger.js";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { type LocalController, startLocalController } from "../../scripts/cluster/controller.js";
import { createNamespace, kubectl, kubectlOk, uniqueName, waitFor } from "../../scripts/cluster/local.js";
import { LOCAL_PORTS } from "../../scripts/cluster/ports.js";
import { forgedSpiderReview, forgedWorkloadReview, forgedWorkloadUpdate, sendReviews } from "../fixtures/forged.js";
import { deploymentYaml, poolYaml, subnetYaml } from "./manifests.js";
import { cluster, pinpoolController } from "./setup.js";

const DEADLINE_S = 6;

type ClusterLedgerJson = { subnets: Record<string, { pending?: unknown }>; pools: Record<string, { ips: string[]; pending?: unknown }> };

async function clusterLedger(): Promise<ClusterLedgerJson> {
  const read = await kubectl(["get", "configmap", "-n", "pinpool-system", "pinpool-ledger", "-o", "jsonpath={.data.ledger\\.json}"]);
  if (read.stderr.includes("NotFound")) return { subnets: {}, pools: {} }; // nothing claimed yet
  if (read.code !== 0) throw new Error(`reading the cluster ledger: ${read.stderr}`);
  return JSON.parse(read.stdout || '{"subnets":{},"pools":{}}') as ClusterLedgerJson;
}

async function subnetLedger(name: string): Promise<Record<string, unknown>> {
  return storedSubnetClaims(cluster().core, cluster().custom, name);
}

describe("forged admission reviews", function () {
  this.timeout(180_000);
  let open: LocalController;
  let openUrl: string;
  const made: string[] = [];
  const namespaces: string[] = [];

  before(async () => {
    await pinpoolController();
    open = await startLocalController(cluster().kubeconfigPath, {
      name: "pinpool-controller-open",
      port: LOCAL_PORTS.webhook + 1,
      metricsPort: LOCAL_PORTS.controllerMetrics + 2,
      register: false,
      env: { PINPOOL_CLIENT_AUTH: "none", PINPOOL_CLIENT_CA_FILE: "", PINPOOL_RECONCILERS: "off", PINPOOL_PENDING_CLAIM_SECONDS: String(DEADLINE_S), PINPOOL_WEBHOOK_RATE: "20", PINPOOL_WEBHOOK_BURST: "40" },
    });
    openUrl = `https://127.0.0.1:${open.port}/validate`;
  });

  after(async () => {
    await open?.stop();
    // The namespaces first: a subnet is deleted only once its pools (the workloads') are gone.
    for (const ns of namespaces) await kubectl(["delete", "namespace", ns, "--wait=true"]);
    for (const name of made) await kubectl(["delete", "spiderippool,spidersubnet", name, "--ignore-not-found", "--wait=true"]);
  });

  it("with mutual TLS on, answers no forged review: no certificate, or one from another CA with the right name, gets 401 and claims nothing", async () => {
    const { port } = await pinpoolController();
    const review = () => forgedSpiderReview("SpiderSubnet", { metadata: { name: uniqueName("mtls-forged") }, spec: { subnet: "10.110.0.0/16", ips: ["10.110.0.1-10.110.0.9"] } });
    const bare = await sendReviews(`https://127.0.0.1:${port}/validate`, Array.from({ length: 50 }, review));
    expect(bare.statuses).to.deep.equal({ 401: 50 });
    // A certificate named pinpool-webhook-client, signed by a CA the webhook does not trust.
    const other = mkdtempSync(path.join(tmpdir(), "forged-client-"));
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", path.join(other, "k.pem"), "-out", path.join(other, "c.pem"), "-subj", "/CN=pinpool-webhook-client", "-addext", "extendedKeyUsage=clientAuth"], { stdio: "ignore" });
    const spoofed = await sendReviews(`https://127.0.0.1:${port}/validate`, Array.from({ length: 50 }, review), { cert: readFileSync(path.join(other, "c.pem")), key: readFileSync(path.join(other, "k.pem")) });
    expect(spoofed.allowed).to.equal(0);
    expect(spoofed.statuses[200] ?? 0).to.equal(0);
    expect(Object.keys((await clusterLedger()).subnets).filter((n) => n.startsWith("mtls-forged"))).to.deep.equal([]);
  });

  it("without mutual TLS, a forged subnet's claim blocks a real one only until its deadline, then the real one applies", async () => {
    const forged = uniqueName("forged-subnet");
    const real = uniqueName("real-subnet");
    made.push(real);
    const sent = await sendReviews(openUrl, [forgedSpiderReview("SpiderSubnet", { metadata: { name: forged }, spec: { subnet: "10.111.0.0/16", ips: ["10.111.0.1-10.111.0.9"] } })]);
    expect(sent.allowed).to.equal(1);
    const at = Date.now();
    expect((await clusterLedger()).subnets[forged]?.pending).to.have.property("until");
    const refused = await kubectl(["apply", "-f", "-"], subnetYaml(real, "10.111.0.0/16", "10.111.0.1-10.111.0.9"));
    expect(refused.stderr).to.include(`SpiderSubnet "${real}": spec.subnet 10.111.0.0/16 overlaps SpiderSubnet "${forged}" (spec.subnet 10.111.0.0/16); subnets may not overlap`);
    await waitFor("the forged claim to lapse", (DEADLINE_S + 6) * 1000, async () => ((await clusterLedger()).subnets[forged] ? undefined : true));
    const lapsed = (Date.now() - at) / 1000;
    console.log(`      (the forged claim lapsed ${lapsed.toFixed(1)} s after the review; deadline ${DEADLINE_S} s)`);
    await kubectlOk(["apply", "-f", "-"], subnetYaml(real, "10.111.0.0/16", "10.111.0.1-10.111.0.9"));
  });

  it("without mutual TLS, a forged UPDATE's extra addresses are cut back to what the stored pool holds, and the mark goes", async () => {
    const pool = uniqueName("forged-grow");
    made.push(pool);
    await kubectlOk(["apply", "-f", "-"], poolYaml(pool, "10.112.0.0/24", "10.112.0.10-10.112.0.12"));
    const stored = JSON.parse(await kubectlOk(["get", "spiderippool", pool, "-o", "json"])) as Record<string, unknown>;
    const grown = { ...stored, spec: { ...(stored.spec as object), ips: ["10.112.0.10-10.112.0.99"] } };
    expect((await sendReviews(openUrl, [forgedSpiderReview("SpiderIPPool", grown, stored)])).allowed).to.equal(1);
    expect((await clusterLedger()).pools[pool]?.ips).to.deep.equal(["10.112.0.10-10.112.0.99"]);
    await waitFor("the forged growth to be cut back", (DEADLINE_S + 6) * 1000, async () => {
      const entry = (await clusterLedger()).pools[pool];
      return entry && !entry.pending ? entry : undefined;
    });
    expect((await clusterLedger()).pools[pool]?.ips).to.deep.equal(["10.112.0.10-10.112.0.12"]);
  });

  it("without mutual TLS, a forged Deployment CREATE's auto pool is deleted and its addresses released once no such Deployment was stored", async () => {
    const subnet = uniqueName("forged-wl-subnet");
    made.push(subnet);
    await kubectlOk(["apply", "-f", "-"], subnetYaml(subnet, "10.113.0.0/24", "10.113.0.10-10.113.0.50"));
    const namespace = await createNamespace(cluster().core, "forged-wl");
    namespaces.push(namespace);
    const review = forgedWorkloadReview("Deployment", namespace, "ghost", subnet, 3);
    const sent = await sendReviews(`https://127.0.0.1:${open.port}/mutate`, [review]);
    expect(sent.allowed).to.equal(1);
    const pools = Object.keys(await subnetLedger(subnet));
    expect(pools).to.have.length(1);
    expect(await kubectlOk(["get", "spiderippool", pools[0] as string, "-o", "jsonpath={.spec.ips}"])).to.equal('["10.113.0.10-10.113.0.13"]');
    await waitFor("the ghost's pool to go", (DEADLINE_S + 10) * 1000, async () => ((await kubectl(["get", "spiderippool", pools[0] as string])).code !== 0 ? true : undefined));
    await waitFor("its claim to be released", 10_000, async () => (Object.keys(await subnetLedger(subnet)).length === 0 ? true : undefined));
  });

  it("without mutual TLS, a forged UPDATE switching a live Deployment to another subnet has the pool it made deleted once the stored Deployment does not name it", async () => {
    const [first, second] = [uniqueName("forged-upd-a"), uniqueName("forged-upd-b")];
    made.push(first, second);
    await kubectlOk(["apply", "-f", "-"], subnetYaml(first, "10.115.0.0/24", "10.115.0.10-10.115.0.50"));
    await kubectlOk(["apply", "-f", "-"], subnetYaml(second, "10.116.0.0/24", "10.116.0.10-10.116.0.50"));
    const namespace = await createNamespace(cluster().core, "forged-upd");
    namespaces.push(namespace);
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("live", 1, { "ipam.spidernet.io/subnet": JSON.stringify({ ipv4: [first] }) }));
    const stored = JSON.parse(await kubectlOk(["get", "deployment", "-n", namespace, "live", "-o", "json"])) as Record<string, unknown>;
    const sent = await sendReviews(`https://127.0.0.1:${open.port}/mutate`, [forgedWorkloadUpdate(stored, second)]);
    expect(sent.allowed).to.equal(1);
    const made2 = Object.keys(await subnetLedger(second));
    expect(made2).to.have.length(1);
    await waitFor("the forged update's pool to go", (DEADLINE_S + 10) * 1000, async () => ((await kubectl(["get", "spiderippool", made2[0] as string])).code !== 0 ? true : undefined));
    await waitFor("its claim to be released", 10_000, async () => (Object.keys(await subnetLedger(second)).length === 0 ? true : undefined));
    expect(Object.keys(await subnetLedger(first))).to.have.length(1); // the live Deployment's pool stays
  });

  it("without mutual TLS, a flood is rate-limited and settles the flooder's claims at once: a real subnet applies during the flood", async () => {
    const real = uniqueName("real-under-flood");
    made.push(real);
    const reviews = Array.from({ length: 1000 }, () => forgedSpiderReview("SpiderSubnet", { metadata: { name: uniqueName("flood") }, spec: { subnet: "10.114.0.0/16", ips: ["10.114.0.1-10.114.0.9"] } }));
    // 1,000 in 10 s from one source, as the adversary: 100 a second.
    const flood = sendReviews(openUrl, reviews, { concurrency: 16, perSecond: 100 });
    await new Promise((r) => setTimeout(r, 1000));
    const appliedAt = await waitFor("the real subnet to apply during the flood", 30_000, async () =>
      (await kubectl(["apply", "-f", "-"], subnetYaml(real, "10.114.0.0/16", "10.114.0.1-10.114.0.9"))).code === 0 ? Date.now() : undefined,
    );
    const sent = await flood;
    const floodEnded = Date.now();
    console.log(`      (flood: ${JSON.stringify(sent.statuses)} in ${sent.ms} ms, ${sent.allowed} admitted; the real subnet applied ${((floodEnded - appliedAt) / 1000).toFixed(1)} s before its end)`);
    expect(sent.statuses[429] ?? 0).to.be.greaterThan(500);
    expect(appliedAt).to.be.lessThan(floodEnded, "the real subnet applied only once the flood was over");
    await waitFor("no flood claim left", (DEADLINE_S + 6) * 1000, async () => (Object.keys((await clusterLedger()).subnets).some((n) => n.startsWith("flood")) ? undefined : true));
  });
});
