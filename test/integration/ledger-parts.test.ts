/**
 * Subnet ledgers stored in parts, against the real API server: writers in three processes'
 * worth of caches race on one subnet across a block boundary and no address is handed out
 * twice; a ledger kept by an older pinpool in the subnet's status is taken over, not lost;
 * a deleted subnet leaves no part behind.
 */
import { expect } from "chai";
import YAML from "yaml";
import type * as k8s from "@kubernetes/client-node";
import { storedSubnetLedger } from "../../scripts/cluster/ledger.js";
import { CONTROLLER_NAMESPACE } from "../../scripts/cluster/controller.js";
import { deleteSpiderObjects, kubectlOk, uniqueName, waitFor } from "../../scripts/cluster/local.js";
import { parseAddressSpec } from "../../src/api/address-spec.js";
import { autoPoolName } from "../../src/api/names.js";
import type { SpiderSubnet } from "../../src/api/types.js";
import { PoolClient, SubnetClient } from "../../src/k8s/resources.js";
import { findConflicts } from "../../src/reservation/conflicts.js";
import { ANNOTATION_SUBNET, LEDGER_LABEL, LEGACY_MARK } from "../../src/reservation/ledger-objects.js";
import { LedgerStores } from "../../src/reservation/ledger-store.js";
import { planReservation } from "../../src/reservation/plan.js";
import { reserve } from "../../src/reservation/reserve.js";
import { ReservedIPs } from "../../src/reservation/reserved-ips.js";
import { deploymentYaml, subnetYaml } from "./manifests.js";
import { scratchPerTest } from "./scratch.js";
import { cluster } from "./setup.js";

async function inBatches<T>(items: readonly T[], size: number, work: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

/** The part ConfigMaps stored for subnet `name`. */
async function partsOf(name: string): Promise<k8s.V1ConfigMap[]> {
  const list = await cluster().core.listNamespacedConfigMap({ namespace: CONTROLLER_NAMESPACE, labelSelector: LEDGER_LABEL });
  return list.items.filter((cm) => cm.metadata?.annotations?.[ANNOTATION_SUBNET] === name);
}

describe("subnet ledgers stored in parts, through the real API server", function () {
  this.timeout(300_000);
  const scratch = scratchPerTest();
  const made = scratch.made;
  let namespace: string;
  beforeEach(() => {
    namespace = scratch.namespace();
  });

  async function subnet(cidr: string, ips: string): Promise<string> {
    const name = uniqueName("lp-subnet");
    made.subnets.add(name);
    await kubectlOk(["apply", "-f", "-"], subnetYaml(name, cidr, ips));
    return name;
  }

  it("120 workloads reserved at once by the webhook and by two more replicas' stores, across a block boundary: every pool inside its own claim, no address claimed or held twice", async () => {
    const s = await subnet("10.78.0.0/16", "10.78.0.100-10.78.3.254");
    const { kc, core, custom, apps } = cluster();
    const annotations = { "ipam.spidernet.io/subnet": `{"ipv4":["${s}"]}`, "ipam.spidernet.io/ippool-ip-number": "+1" };
    const names = Array.from({ length: 120 }, (_, i) => `w${i}`);
    for (const n of names) made.pools.add(autoPoolName({ namespace, kind: "Deployment", name: n }, "eth0", 4, s));
    const replicas = [0, 1].map(() => new LedgerStores({ kc, core, custom, namespace: CONTROLLER_NAMESPACE, ledgerName: "pinpool-ledger" }));
    await Promise.all(replicas.map((r) => r.start()));
    try {
      const deployment = (n: string): k8s.V1Deployment => {
        const d = YAML.parse(deploymentYaml(n, 1, annotations)) as k8s.V1Deployment;
        return { ...d, spec: { ...(d.spec as k8s.V1DeploymentSpec), paused: true } };
      };
      const plan = (n: string) => planReservation({ namespace, kind: "Deployment", name: n }, annotations, { replicas: 1 }) as NonNullable<ReturnType<typeof planReservation>>;
      await Promise.all([
        inBatches(names, 12, (n) => apps.createNamespacedDeployment({ namespace, body: deployment(n) })),
        ...replicas.map((stores, r) => inBatches(r ? [...names].reverse() : names, 16, (n) => reserve(plan(n), { stores, custom, reserved: new ReservedIPs(custom) }, false))),
      ]);
    } finally {
      await Promise.all(replicas.map((r) => r.stop()));
    }
    const { ledger } = await storedSubnetLedger(core, custom, s);
    const pools = await new PoolClient(custom).list();
    const mine = pools.filter((p) => made.pools.has(p.metadata.name as string));
    expect(mine).to.have.length(120);
    for (const p of mine) {
      const held = parseAddressSpec(p.spec).addresses;
      expect(held.size, `${p.metadata.name} size`).to.equal(2n);
      expect(ledger.pools.get(p.metadata.name as string)?.addresses.containsSet(held), `${p.metadata.name} ${held.toString()} inside its claim`).to.equal(true);
    }
    const claims = [...ledger.pools].map(([name, c]) => ({ name, addresses: c.addresses }));
    expect(findConflicts(claims).map((c) => `${c.a} and ${c.b} both claim ${c.shared.toString()}`)).to.deep.equal([]);
    const holdings = pools.map((p) => ({ name: p.metadata.name as string, addresses: parseAddressSpec(p.spec).addresses }));
    expect(findConflicts(holdings).map((c) => `${c.a} and ${c.b} share ${c.shared.toString()}`)).to.deep.equal([]);
    // 240 addresses from 10.78.0.100 fill the first block and spill over: blocks from 10.78.0.0/24 on, and the directory.
    const parts = await partsOf(s);
    const keys = parts.map((cm) => cm.metadata?.annotations?.["pinpool.spidernet.io/ledger-part"]).sort();
    expect(keys).to.include.members(["a4e00", "dir"]);
    expect(keys.length).to.be.greaterThanOrEqual(3);
    expect([...ledger.missing], "every registered block has its part").to.deep.equal([]);
    for (const cm of parts) expect(JSON.stringify(cm).length, cm.metadata?.name).to.be.below(64 * 1024);
  });

  it("takes over a ledger an older pinpool kept in the subnet's status: its claims are kept, and the status then says where the ledger is", async () => {
    const s = await subnet("10.79.0.0/16", "10.79.0.10-10.79.0.200");
    const subnets = new SubnetClient(cluster().custom);
    const stored = (await subnets.get(s)) as SpiderSubnet;
    await subnets.replaceStatus({ ...stored, status: { ...stored.status, controlledIPPools: JSON.stringify({ "older-pool": { ips: ["10.79.0.10-10.79.0.19"] } }) } });
    await waitFor("the webhook's cache to see the status", 10_000, async () => ((await subnets.get(s))?.status?.controlledIPPools ? true : undefined));
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("after", 2, { "ipam.spidernet.io/subnet": `{"ipv4":["${s}"]}`, "ipam.spidernet.io/ippool-ip-number": "+1" }));
    const auto = autoPoolName({ namespace, kind: "Deployment", name: "after" }, "eth0", 4, s);
    made.pools.add(auto);
    const claims = Object.fromEntries([...(await storedSubnetLedger(cluster().core, cluster().custom, s)).ledger.pools].map(([n, c]) => [n, c.addresses.toString()]));
    expect(claims).to.deep.include({ "older-pool": "10.79.0.10-10.79.0.19", [auto]: "10.79.0.20-10.79.0.22" });
    expect((await subnets.get(s))?.status?.controlledIPPools).to.equal(LEGACY_MARK);
  });

  it("a deleted subnet leaves none of its ledger's parts behind", async () => {
    const s = await subnet("10.80.0.0/16", "10.80.0.10-10.80.0.200");
    await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("short", 1, { "ipam.spidernet.io/subnet": `{"ipv4":["${s}"]}` }));
    made.pools.add(autoPoolName({ namespace, kind: "Deployment", name: "short" }, "eth0", 4, s));
    expect((await partsOf(s)).length).to.be.greaterThan(0);
    await kubectlOk(["delete", "-n", namespace, "deploy", "short", "--wait=true"]);
    await deleteSpiderObjects(cluster().custom, "spiderippools", made.pools);
    await kubectlOk(["delete", "ss", s, "--wait=true"]);
    made.subnets.delete(s);
    expect((await partsOf(s)).map((cm) => cm.metadata?.name)).to.deep.equal([]);
  });
});
