/**
 * A workload's whole life at admission and in the controller's sweep, through kubectl on the
 * real API server: re-creation re-adopts, annotation changes take effect, edges (long
 * names, a malformed SpiderReservedIP, scale to 0, a deleted pool) end well, and no pool
 * ever carries an ownerReference the garbage collector refuses.
 */
import { expect } from "chai";
import { autoPoolName } from "../../src/api/names.js";
import { PLURAL, type SpiderIPPool } from "../../src/api/types.js";
import { PoolClient } from "../../src/k8s/resources.js";
import { unregisterWebhooks } from "../../scripts/cluster/controller.js";
import { createNamespace, deleteSpiderObjects, kubectl, kubectlOk, uniqueName, waitFor } from "../../scripts/cluster/local.js";
import { deploymentYaml, subnetYaml } from "./manifests.js";
import { cluster, pinpoolController, replaceController } from "./setup.js";

const getPool = (name: string): Promise<SpiderIPPool | undefined> => new PoolClient(cluster().custom).get(name);
const gone = (name: string) => async (): Promise<true | undefined> => ((await getPool(name)) ? undefined : true);
const adoptedBy = async (name: string): Promise<string | undefined> => (await getPool(name))?.metadata.annotations?.["pinpool.io/adopted-by-uid"];

describe("a workload's whole life through the real API server", function () {
  this.timeout(300_000);
  const subnets: string[] = [];
  let namespace: string;

  before(async () => {
    await pinpoolController();
  });

  beforeEach(async () => {
    namespace = await createNamespace(cluster().core);
  });

  afterEach(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=true", "--timeout=60s"]);
    await replaceController();
    for (const s of subnets.splice(0)) {
      await waitFor(`SpiderSubnet ${s} to be deletable`, 90_000, async () => ((await kubectl(["delete", "ss", s, "--ignore-not-found"])).code === 0 ? true : undefined));
    }
  });

  async function subnet(cidr: string, ips: string): Promise<string> {
    const name = uniqueName("life");
    subnets.push(name);
    await kubectlOk(["apply", "-f", "-"], subnetYaml(name, cidr, ips));
    return name;
  }

  it("a Deployment deleted and re-created within the grace period finds its pool and re-adopts it (no ownerReference, no GC warning)", async () => {
    const s = await subnet("10.80.0.0/16", "10.80.0.10-10.80.0.100");
    const auto = autoPoolName({ namespace, kind: "Deployment", name: "again" }, "eth0", 4, s);
    const yaml = deploymentYaml("again", 2, { "ipam.spidernet.io/subnet": `{"ipv4":["${s}"]}` });
    await kubectlOk(["create", "-n", namespace, "-f", "-"], yaml);
    const first = await kubectlOk(["get", "deploy", "-n", namespace, "again", "-o", "jsonpath={.metadata.uid}"]);
    await waitFor("adoption", 15_000, async () => ((await adoptedBy(auto)) === first ? true : undefined));
    const ips = (await getPool(auto))?.spec.ips;
    await kubectlOk(["delete", "deploy", "-n", namespace, "again", "--wait=true"]);
    await kubectlOk(["create", "-n", namespace, "-f", "-"], yaml);
    const second = await kubectlOk(["get", "deploy", "-n", namespace, "again", "-o", "jsonpath={.metadata.uid}"]);
    await waitFor("re-adoption by the new UID", 15_000, async () => ((await adoptedBy(auto)) === second ? true : undefined));
    const pool = (await getPool(auto)) as SpiderIPPool;
    expect(pool.metadata.deletionTimestamp).to.equal(undefined);
    expect(pool.spec.ips).to.deep.equal(ips);
    expect(pool.metadata.ownerReferences ?? []).to.deep.equal([]);
    expect(await kubectlOk(["get", "events", "-A", "--field-selector", `reason=OwnerRefInvalidNamespace,involvedObject.name=${auto}`, "-o", "name"])).to.equal("");
  });

  it("a reclaimed pool goes once its Deployment has been gone for the grace period; ippool-reclaim toggled to false keeps it", async () => {
    const s = await subnet("10.81.0.0/16", "10.81.0.10-10.81.0.100");
    const reclaimed = autoPoolName({ namespace, kind: "Deployment", name: "goes" }, "eth0", 4, s);
    const kept = autoPoolName({ namespace, kind: "Deployment", name: "stays" }, "eth0", 4, s);
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("goes", 1, { "ipam.spidernet.io/subnet": `{"ipv4":["${s}"]}` }));
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("stays", 1, { "ipam.spidernet.io/subnet": `{"ipv4":["${s}"]}` }));
    // Toggled on the live workload: honoured.
    await kubectlOk(["patch", "deploy", "-n", namespace, "stays", "--type=merge", "-p", '{"spec":{"template":{"metadata":{"annotations":{"ipam.spidernet.io/ippool-reclaim":"false"}}}}}']);
    await waitFor("the reclaim label to follow the toggle", 15_000, async () => ((await getPool(kept))?.metadata.labels?.["ipam.spidernet.io/ippool-reclaim"] === "false" ? true : undefined));
    await kubectlOk(["delete", "deploy", "-n", namespace, "goes", "stays", "--wait=true"]);
    await waitFor(`pool ${reclaimed} to be deleted`, 60_000, gone(reclaimed));
    expect(await getPool(kept), "the kept pool outlives its workload").to.not.equal(undefined);
    await deleteSpiderObjects(cluster().custom, PLURAL.SpiderIPPool, [kept]);
  });

  it("a subnet switch reserves a new pool (no 'could not decide'); dropping IPv6 and removing the annotation release pools and take pinpool.io/reserved-ippools off", async () => {
    const a = await subnet("10.82.0.0/16", "10.82.0.10-10.82.0.100");
    const b = await subnet("10.83.0.0/16", "10.83.0.10-10.83.0.100");
    const v6 = await subnet("fd82::/64", "fd82::10-fd82::100");
    const ref = { namespace, kind: "Deployment" as const, name: "sw" };
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("sw", 1, { "ipam.spidernet.io/subnet": `{"ipv4":["${a}"],"ipv6":["${v6}"]}` }));
    const switched = await kubectl(["patch", "deploy", "-n", namespace, "sw", "--type=merge", "-p", JSON.stringify({ spec: { template: { metadata: { annotations: { "ipam.spidernet.io/subnet": `{"ipv4":["${b}"]}` } } } } })]);
    expect(switched.stderr).to.equal("");
    const annotation = await kubectlOk(["get", "deploy", "-n", namespace, "sw", "-o", "jsonpath={.spec.template.metadata.annotations.pinpool\\.io/reserved-ippools}"]);
    expect(annotation).to.equal(`[{"interface":"eth0","ipv4":["${autoPoolName(ref, "eth0", 4, b)}"]}]`);
    // The old IPv4 pool and the dropped IPv6 one hold no pod's address: released after the grace period.
    await waitFor("the old IPv4 pool to go", 60_000, gone(autoPoolName(ref, "eth0", 4, a)));
    await waitFor("the dropped IPv6 pool to go", 60_000, gone(autoPoolName(ref, "eth0", 6, v6)));
    await kubectlOk(["patch", "deploy", "-n", namespace, "sw", "--type=json", "-p", '[{"op":"remove","path":"/spec/template/metadata/annotations/ipam.spidernet.io~1subnet"}]']);
    expect(await kubectlOk(["get", "deploy", "-n", namespace, "sw", "-o", "jsonpath={.spec.template.metadata.annotations}"])).to.not.include("pinpool.io/reserved-ippools");
    await waitFor("the last pool to go", 60_000, gone(autoPoolName(ref, "eth0", 4, b)));
  });

  it("a pool deleted under a live workload is reserved again within a sweep", async () => {
    const s = await subnet("10.84.0.0/16", "10.84.0.10-10.84.0.100");
    const auto = autoPoolName({ namespace, kind: "Deployment", name: "back" }, "eth0", 4, s);
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("back", 2, { "ipam.spidernet.io/subnet": `{"ipv4":["${s}"]}` }));
    const uid = (await getPool(auto))?.metadata.uid;
    await kubectlOk(["delete", "sp", auto, "--wait=true"]);
    const again = await waitFor("the pool to be reserved again", 30_000, async () => {
      const p = await getPool(auto);
      return p && p.metadata.uid !== uid && !p.metadata.deletionTimestamp ? p : undefined;
    });
    expect(again.spec.ips ?? []).to.not.be.empty;
  });

  it("edges: a name over 63 characters is reserved (labels cut and hashed), scale to 0 is admitted, a malformed SpiderReservedIP is skipped with a warning and an event", async () => {
    const s = await subnet("10.85.0.0/16", "10.85.0.10-10.85.0.100");
    const long = `a${"b".repeat(70)}`;
    const auto = autoPoolName({ namespace, kind: "Deployment", name: long }, "eth0", 4, s);
    // (Its pods' label is short: label values are at most 63 characters.)
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml(long, 1, { "ipam.spidernet.io/subnet": `{"ipv4":["${s}"]}` }).replaceAll(`app: ${long}`, "app: long"));
    const pool = (await getPool(auto)) as SpiderIPPool;
    expect(pool.metadata.annotations?.["pinpool.io/owner"]).to.equal(`${namespace}/Deployment/${long}`);
    expect(pool.metadata.labels?.["ipam.spidernet.io/owner-application-name"]).to.match(/^ab{51}-[0-9a-f]{10}$/);
    expect((await kubectl(["scale", "-n", namespace, "deploy", long, "--replicas", "0"])).code).to.equal(0);

    await unregisterWebhooks(); // written past the validating webhook, as a restore would
    await kubectlOk(["apply", "-f", "-"], `apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderReservedIP
metadata: { name: life-broken }
spec: { ipVersion: 4, ips: ["10.85.0.x"] }
`);
    await replaceController();
    try {
      const created = await kubectl(["create", "-n", namespace, "-f", "-"], deploymentYaml("after", 1, { "ipam.spidernet.io/subnet": `{"ipv4":["${s}"]}` }));
      expect(created.code).to.equal(0);
      expect(created.stderr).to.include('Warning: SpiderReservedIP "life-broken" is ignored: invalid SpiderReservedIP "life-broken" spec.ips[0] "10.85.0.x"');
      const event = await waitFor("the InvalidSpiderReservedIP event", 15_000, async () => {
        const events = await cluster().core.listNamespacedEvent({ namespace: "default", fieldSelector: "involvedObject.name=life-broken" });
        return events.items.find((e) => e.reason === "InvalidSpiderReservedIP");
      });
      expect(event.type).to.equal("Warning");
    } finally {
      await kubectl(["delete", "spiderreservedip", "life-broken"]);
    }
  });
});
