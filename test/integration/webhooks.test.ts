import { storedSubnetClaims } from "../../scripts/cluster/ledger.js";
import { expect } from "chai";
import { autoPoolName } from "../../src/api/names.js";
import { GROUP, PLURAL, VERSION } from "../../src/api/types.js";
import { parseIPList } from "../../src/ip/ip-list.js";
import { createNamespace, deleteSpiderObjects, kubectl, kubectlOk, uniqueName } from "../../scripts/cluster/local.js";
import { deploymentYaml, poolYaml, rows, seedAnnotations, subnetYaml } from "./manifests.js";
import { cluster, pinpoolController } from "./setup.js";

describe("admission webhooks through the real API server", function () {
  this.timeout(300_000);
  const pools = new Set<string>();
  const subnets = new Set<string>();
  let namespace: string;

  before(async () => {
    await pinpoolController();
  });

  beforeEach(async () => {
    namespace = await createNamespace(cluster().core);
  });

  afterEach(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    // Pools first: a subnet that still hands addresses to pools may not be deleted.
    await deleteSpiderObjects(cluster().custom, PLURAL.SpiderIPPool, pools);
    await deleteSpiderObjects(cluster().custom, PLURAL.SpiderSubnet, subnets);
    pools.clear();
    subnets.clear();
  });

  it("replays the seed: the auto pool exists when kubectl create returns, grows on scale; overlaps are denied", async () => {
    subnets.add("nginx-subnet-v4");
    await kubectlOk(["apply", "-f", "-"], subnetYaml("nginx-subnet-v4", "10.244.0.0/16", "10.244.100.90-10.244.200.91"));
    const auto = autoPoolName({ namespace, kind: "Deployment", name: "nginx" }, "eth0", 4, "nginx-subnet-v4");
    pools.add(auto);
    expect(await kubectlOk(["create", "-n", namespace, "-f", "-"], deploymentYaml("nginx", 2, seedAnnotations))).to.equal("deployment.apps/nginx created\n");
    expect(rows(await kubectlOk(["get", "sp", auto]))).to.deep.equal([
      ["NAME", "VERSION", "SUBNET", "ALLOCATED-IP-COUNT", "TOTAL-IP-COUNT", "DEFAULT", "DISABLE"],
      [auto, "4", "10.244.0.0/16", "0", "5", "false", "false"],
    ]);
    expect(await kubectlOk(["get", "sp", auto, "-o", "jsonpath={.spec.ips}"])).to.equal('["10.244.100.90-10.244.100.94"]');
    const annotation = await kubectlOk(["get", "deploy", "-n", namespace, "nginx", "-o", "jsonpath={.spec.template.metadata.annotations.pinpool\\.io/reserved-ippools}"]);
    expect(annotation).to.equal(`[{"interface":"eth0","ipv4":["${auto}"]}]`);

    await kubectlOk(["scale", "-n", namespace, "deploy", "nginx", "--replicas", "3"]);
    expect(rows(await kubectlOk(["get", "sp", auto]))[1]).to.deep.equal([auto, "4", "10.244.0.0/16", "0", "6", "false", "false"]);

    pools.add("nginx-v4-ippool");
    await kubectlOk(["apply", "-f", "-"], poolYaml("nginx-v4-ippool", "10.244.0.0/16", "10.244.120.10-10.244.120.20"));
    const overlapping = await kubectl(["apply", "-f", "-"], poolYaml("nginx-v4-ippool-2", "10.244.0.0/16", "10.244.120.18-10.244.120.30"));
    expect(overlapping.code).to.equal(1);
    expect(overlapping.stderr).to.equal(
      'Error from server (Forbidden): error when creating "STDIN": admission webhook "validate.pinpool.io" denied the request: SpiderIPPool "nginx-v4-ippool-2" overlaps SpiderIPPool "nginx-v4-ippool" at 10.244.120.18-10.244.120.20\n',
    );
    // The subnet's ledger and its count columns follow: 6 + 11 addresses handed to pools.
    expect(rows(await kubectlOk(["get", "ss", "nginx-subnet-v4"]))[1]).to.deep.equal(["nginx-subnet-v4", "4", "10.244.0.0/16", "17", "25602"]);
  });

  it("shows the patch of a server-side dry run and leaves no pool behind", async () => {
    const subnet = uniqueName("dry");
    subnets.add(subnet);
    await kubectlOk(["apply", "-f", "-"], subnetYaml(subnet, "10.61.0.0/16", "10.61.0.1-10.61.0.100"));
    const out = await kubectlOk(
      ["apply", "--dry-run=server", "-n", namespace, "-o", "jsonpath={.spec.template.metadata.annotations.pinpool\\.io/reserved-ippools}", "-f", "-"],
      deploymentYaml("web", 2, { "ipam.spidernet.io/subnet": `{"ipv4":["${subnet}"]}` }),
    );
    const auto = autoPoolName({ namespace, kind: "Deployment", name: "web" }, "eth0", 4, subnet);
    expect(out).to.equal(`[{"interface":"eth0","ipv4":["${auto}"]}]`);
    expect((await kubectl(["get", "sp", auto])).stderr).to.include("not found");
    expect(await storedSubnetClaims(cluster().core, cluster().custom, subnet)).to.deep.equal({});
  });

  it("denies every bad input with the field, the value and what is allowed", async () => {
    const subnet = uniqueName("bad");
    subnets.add(subnet);
    await kubectlOk(["apply", "-f", "-"], subnetYaml(subnet, "10.62.0.0/24", "10.62.0.1-10.62.0.4"));
    const create = (annotations: Record<string, string>): Promise<string> =>
      kubectl(["create", "-n", namespace, "-f", "-"], deploymentYaml("bad", 2, annotations)).then((r) => r.stderr);
    const denied = (webhook: string, message: string): string => `admission webhook "${webhook}" denied the request: ${message}`;

    expect(await create({ "ipam.spidernet.io/subnet": "{ipv4:[x]}" })).to.include(
      denied("workloads.pinpool.io", `deployment "bad": annotation ipam.spidernet.io/subnet: "{ipv4:[x]}" is not valid JSON`),
    );
    expect(await create({ "ipam.spidernet.io/subnet": '{"ipv4":["no-such-subnet"]}' })).to.include(
      denied("workloads.pinpool.io", 'SpiderSubnet "no-such-subnet" (asked for IPv4 on eth0 of deployment "bad") does not exist'),
    );
    for (const n of ["-1", "three"]) {
      expect(await create({ "ipam.spidernet.io/subnet": `{"ipv4":["${subnet}"]}`, "ipam.spidernet.io/ippool-ip-number": n })).to.include(
        denied("workloads.pinpool.io", `deployment "bad": annotation ipam.spidernet.io/ippool-ip-number: "${n}" is not allowed; expected "+N"`),
      );
    }
    expect(await create({ "ipam.spidernet.io/subnet": `{"ipv6":["${subnet}"]}` })).to.include(
      denied("workloads.pinpool.io", `SpiderSubnet "${subnet}" is IPv4 (spec.subnet 10.62.0.0/24), but deployment "bad" names it under ipv6; list it under ipv4`),
    );
    expect(await create({ "ipam.spidernet.io/subnet": `{"ipv4":["${subnet}"]}`, "ipam.spidernet.io/ippool-ip-number": "+3" })).to.include(
      denied("workloads.pinpool.io", `SpiderSubnet "${subnet}" has 4 free addresses; deployment "bad" needs 5 (replicas 2 + 3)`),
    );
    const typo = await kubectl(["apply", "-f", "-"], subnetYaml(uniqueName("typo"), "10.63.0.1/16", "10.63.0.1"));
    expect(typo.stderr).to.include('invalid spec.subnet "10.63.0.1/16": host bits are set; did you mean "10.63.0.0/16"?');
    const gateway = await kubectl(["apply", "-f", "-"], poolYaml(uniqueName("gw"), "10.64.0.0/24", "10.64.0.1-10.64.0.9", "  gateway: 10.64.0.1\n"));
    expect(gateway.stderr).to.include("spec.gateway 10.64.0.1 is also in spec.ips; a gateway cannot be handed to a pod: add 10.64.0.1 to spec.excludeIPs or remove it from spec.ips");
    expect((await kubectl(["get", "deploy", "-n", namespace, "bad"])).stderr).to.include("not found");
  });

  it("leaves workloads without subnet annotations alone (admitted, not patched)", async () => {
    const plain = deploymentYaml("plain", 1, { "example.com/owner": "team-a" });
    expect(await kubectlOk(["create", "-n", namespace, "-f", "-"], plain)).to.equal("deployment.apps/plain created\n");
    expect(await kubectlOk(["get", "deploy", "-n", namespace, "plain", "-o", "jsonpath={.spec.template.metadata.annotations}"])).to.equal('{"example.com/owner":"team-a"}');
    const bare = `apiVersion: apps/v1
kind: StatefulSet
metadata: { name: bare }
spec:
  serviceName: bare
  selector: { matchLabels: { app: bare } }
  template:
    metadata: { labels: { app: bare } }
    spec: { containers: [{ name: c, image: nginx }] }
`;
    expect(await kubectlOk(["create", "-n", namespace, "-f", "-"], bare)).to.equal("statefulset.apps/bare created\n");
    expect(await kubectlOk(["scale", "-n", namespace, "statefulset", "bare", "--replicas", "2"])).to.equal("statefulset.apps/bare scaled\n");
  });

  it("defaults spec.ipVersion from the CIDR", async () => {
    const name = uniqueName("v6");
    subnets.add(name);
    await kubectlOk(["apply", "-f", "-"], subnetYaml(name, "fd00:61::/64", "fd00:61::10-fd00:61::ff"));
    expect(await kubectlOk(["get", "ss", name, "-o", "jsonpath={.spec.ipVersion}"])).to.equal("6");
  });

  /** Creates `count` pools at once through the API; returns how many were admitted. */
  async function createConcurrently(names: string[], cidr: string, ipsOf: (i: number) => string): Promise<number> {
    const { custom } = cluster();
    names.forEach((n) => pools.add(n));
    const results = await Promise.allSettled(
      names.map((name, i) =>
        custom.createClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: PLURAL.SpiderIPPool,
          body: { apiVersion: `${GROUP}/${VERSION}`, kind: "SpiderIPPool", metadata: { name }, spec: { subnet: cidr, ips: [ipsOf(i)] } },
        }),
      ),
    );
    for (const r of results) {
      if (r.status === "rejected") expect(String((r.reason as { body?: unknown }).body)).to.include("overlaps SpiderIPPool");
    }
    return results.filter((r) => r.status === "fulfilled").length;
  }

  for (const where of ["in a SpiderSubnet", "outside any subnet"] as const) {
    it(`admits exactly one of 20 concurrent overlapping pools and all of 20 disjoint ones, ${where}, 10 times`, async () => {
      const cidr = where === "in a SpiderSubnet" ? "10.70.0.0/16" : "10.71.0.0/16";
      const prefix = cidr.split(".").slice(0, 2).join(".");
      if (where === "in a SpiderSubnet") {
        const subnet = uniqueName("race");
        subnets.add(subnet);
        await kubectlOk(["apply", "-f", "-"], subnetYaml(subnet, cidr, `${prefix}.0.1-${prefix}.255.254`));
      }
      for (let round = 0; round < 10; round++) {
        const overlapping = Array.from({ length: 20 }, (_, i) => `race-o-${round}-${i}`);
        // Each pool overlaps the next: 10 addresses, shifted by 5.
        const admitted = await createConcurrently(overlapping, cidr, (i) => `${prefix}.${round}.${i * 5 + 1}-${prefix}.${round}.${i * 5 + 10}`);
        // Mutually overlapping: every pool holds .100 of its round's /24.
        const all = Array.from({ length: 20 }, (_, i) => `race-a-${round}-${i}`);
        const admittedAll = await createConcurrently(all, cidr, (i) => `${prefix}.${round + 100}.${i + 1}-${prefix}.${round + 100}.100`);
        const disjoint = Array.from({ length: 20 }, (_, i) => `race-d-${round}-${i}`);
        const admittedDisjoint = await createConcurrently(disjoint, cidr, (i) => `${prefix}.${round + 200}.${i * 10 + 1}-${prefix}.${round + 200}.${i * 10 + 10}`);
        expect(admittedAll, `round ${round}: pools that all overlap`).to.equal(1);
        expect(admittedDisjoint, `round ${round}: disjoint pools`).to.equal(20);
        expect(admitted, `round ${round}: chain of overlapping pools`).to.be.within(1, 20);
      }
      // Whatever got in, no two stored pools share an address.
      const stored = (await cluster().custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool })) as {
        items: Array<{ metadata: { name: string }; spec: { ips: string[] } }>;
      };
      const seen = new Map<string, string>();
      for (const p of stored.items.filter((i) => i.metadata.name.startsWith("race-"))) {
        for (const a of parseIPList(4, p.spec.ips, "ips").addresses()) {
          expect(seen.get(String(a)), `address ${a} in ${p.metadata.name}`).to.equal(undefined);
          seen.set(String(a), p.metadata.name);
        }
      }
    });
  }
});
