/**
 * The adversary of issue 20 against the shipped install (`kubectl apply -k manifests`,
 * mutual TLS on by default): 1,000 forged reviews of each kind in 10 s, sent from the node
 * to the webhook's port as `curl -k` would. None is answered, nothing is claimed, and the
 * real objects then apply at once, with no address lost or duplicated.
 */
import { expect } from "chai";
import { installPinpool } from "../../scripts/cluster/install.js";
import { storedSubnetClaims } from "../../scripts/cluster/ledger.js";
import { createNamespace, kubectl, kubectlOk } from "../../scripts/cluster/local.js";
import { forgedScaleReview, forgedSpiderReview, forgedWorkloadReview, sendReviews } from "../fixtures/forged.js";
import { pool, poolHolds } from "../e2e/helpers.js";
import { deploymentYaml, poolYaml, subnetYaml } from "../integration/manifests.js";
import { cluster } from "../integration/setup.js";
import { autoPoolOf, readyPods } from "./helpers.js";

const WEBHOOK = "https://127.0.0.1:9443";
const EACH = 1000;

async function refusedUnauthenticated(): Promise<number> {
  const text = await (await fetch("http://127.0.0.1:9090/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith('pinpool_webhook_refused_total{reason="unauthenticated"}'));
  return line ? Number(line.split(" ").pop()) : 0;
}

describe("forged reviews against the installed webhook (mutual TLS, the shipped default)", function () {
  this.timeout(600_000);
  let namespace: string;
  const subnet = "forged-e2e-subnet";

  before(async function () {
    this.timeout(600_000);
    await installPinpool();
    namespace = await createNamespace(cluster().core, "forged");
  });

  after(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=true"]);
    await kubectl(["delete", "spiderippool", "real-pool", "--ignore-not-found", "--wait=true"]);
    await kubectl(["delete", "spidersubnet", subnet, "real-subnet", "--ignore-not-found", "--wait=true"]);
  });

  it(`${EACH} forged reviews of each kind in 10 s are all refused; then the real objects apply at once and no address moves or repeats`, async () => {
    await kubectlOk(["apply", "-f", "-"], subnetYaml(subnet, "10.251.0.0/24", "10.251.0.10-10.251.0.60"));
    const uses = { "ipam.spidernet.io/subnet": JSON.stringify({ ipv4: [subnet] }), "ipam.spidernet.io/ippool-ip-number": "+1" };
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("steady", 2, uses));
    const steadyPool = await autoPoolOf(namespace, "steady");
    const before = await readyPods(namespace, "app=steady", 2);
    const poolBefore = await pool(steadyPool);
    const stored = JSON.parse(await kubectlOk(["get", "spiderippool", steadyPool, "-o", "json"])) as { spec: object };
    const refusedBefore = await refusedUnauthenticated();

    const kinds: Record<string, { path: string; review: (n: number) => Record<string, unknown> }> = {
      "subnet CREATE over the steady subnet and the real one": {
        path: "/validate",
        review: (n) => forgedSpiderReview("SpiderSubnet", { metadata: { name: `forged-subnet-${n}` }, spec: { subnet: n % 2 ? "10.251.0.0/24" : "10.252.0.0/16", ips: [n % 2 ? "10.251.0.1-10.251.0.250" : "10.252.0.1-10.252.0.9"] } }),
      },
      "pool CREATE over the real pool": { path: "/validate", review: (n) => forgedSpiderReview("SpiderIPPool", { metadata: { name: `forged-pool-${n}` }, spec: { subnet: "10.253.0.0/24", ips: ["10.253.0.1-10.253.0.99"] } }) },
      "pool UPDATE growing the steady pool over the whole subnet": {
        path: "/validate",
        review: () => forgedSpiderReview("SpiderIPPool", { ...stored, spec: { ...stored.spec, ips: ["10.251.0.10-10.251.0.60"] } }, stored),
      },
      "Deployment CREATE naming the steady subnet": { path: "/mutate", review: (n) => forgedWorkloadReview("Deployment", namespace, `ghost-${n}`, subnet, 20) },
      "StatefulSet CREATE naming the steady subnet": { path: "/mutate", review: (n) => forgedWorkloadReview("StatefulSet", namespace, `ghost-set-${n}`, subnet, 20) },
      "scale of the steady Deployment to 40": { path: "/mutate", review: () => forgedScaleReview(namespace, "steady", 40) },
    };
    const results = await Promise.all(
      Object.entries(kinds).map(async ([kind, k]) => [kind, await sendReviews(`${WEBHOOK}${k.path}`, Array.from({ length: EACH }, (_, n) => k.review(n)), { concurrency: 8, perSecond: EACH / 10 })] as const),
    );
    for (const [kind, sent] of results) {
      console.log(`      ${kind}: ${JSON.stringify(sent.statuses)} in ${sent.ms} ms`);
      expect(sent.statuses, kind).to.deep.equal({ 401: EACH });
      expect(sent.allowed, kind).to.equal(0);
    }
    expect((await refusedUnauthenticated()) - refusedBefore).to.equal(EACH * Object.keys(kinds).length);

    // At once, first try: the real objects the forgeries aimed at.
    await kubectlOk(["apply", "-f", "-"], subnetYaml("real-subnet", "10.252.0.0/16", "10.252.0.1-10.252.0.9"));
    await kubectlOk(["apply", "-f", "-"], poolYaml("real-pool", "10.253.0.0/24", "10.253.0.1-10.253.0.99"));
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("ghost-1", 2, uses));
    const ghosts = await readyPods(namespace, "app=ghost-1", 2);
    const ghostPool = await autoPoolOf(namespace, "ghost-1");

    const after = await readyPods(namespace, "app=steady", 2);
    expect(after.map((p) => [p.uid, p.ip])).to.deep.equal(before.map((p) => [p.uid, p.ip]));
    const poolAfter = await pool(steadyPool);
    expect(poolAfter.spec.ips).to.deep.equal(poolBefore.spec.ips);
    expect(poolAfter.status?.allocations).to.deep.equal(poolBefore.status?.allocations);
    const addresses = [...after, ...ghosts].map((p) => p.ip);
    expect(new Set(addresses).size).to.equal(4);
    for (const p of ghosts) expect(await poolHolds(ghostPool, p.ip), p.ip).to.equal(true);
    const ledger = await storedSubnetClaims(cluster().core, cluster().custom, subnet);
    expect(Object.keys(ledger).sort()).to.deep.equal([ghostPool, steadyPool].sort());
    expect(await kubectlOk(["get", "spiderippool", "-o", "name"])).to.not.match(/ghost-set|ghost-[02-9]/);
  });
});
