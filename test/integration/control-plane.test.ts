import { expect } from "chai";
import { parseAddressSpec } from "../../src/api/address-spec.js";
import { type AddressSpec, GROUP, PLURAL, VERSION } from "../../src/api/types.js";
import { createNamespace, kubectl, kubectlOk, waitFor } from "../../scripts/cluster/local.js";
import { cluster } from "./setup.js";

/** Columns of `kubectl get`, split on runs of spaces. */
function table(text: string): string[][] {
  return text.trim().split("\n").map((line) => line.trim().split(/\s{2,}/));
}

/** Writes the counts pinpool keeps in status (spec.ips less spec.excludeIPs), as its controller does. */
async function writeCounts(plural: string, name: string): Promise<void> {
  const { custom } = cluster();
  const obj = (await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural, name })) as { spec: AddressSpec };
  const total = Number(parseAddressSpec(obj.spec).addresses.size);
  await custom.patchClusterCustomObjectStatus({
    group: GROUP,
    version: VERSION,
    plural,
    name,
    body: [{ op: "add", path: "/status", value: { totalIPCount: total, allocatedIPCount: 0 } }],
  });
}

describe("the local control plane (real kube-apiserver, etcd, kube-controller-manager)", () => {
  const seedSubnet = `apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderSubnet
metadata:
  name: nginx-subnet-v4
spec:
  ipVersion: 4
  subnet: 10.244.0.0/16
  ips:
    - 10.244.100.90-10.244.200.91
`;

  afterEach(async () => {
    await kubectl(["delete", "ss", "nginx-subnet-v4", "--ignore-not-found", "--wait=false"]);
  });

  it("applies the seed's SpiderSubnet and lists it with the seed's columns", async () => {
    expect(await kubectlOk(["apply", "-f", "-"], seedSubnet)).to.equal("spidersubnet.spiderpool.spidernet.io/nginx-subnet-v4 created\n");
    await writeCounts(PLURAL.SpiderSubnet, "nginx-subnet-v4");
    expect(table(await kubectlOk(["get", "ss"]))).to.deep.equal([
      ["NAME", "VERSION", "SUBNET", "ALLOCATED-IP-COUNT", "TOTAL-IP-COUNT"],
      ["nginx-subnet-v4", "4", "10.244.0.0/16", "0", "25602"],
    ]);
  });

  it("lists SpiderIPPools with the seed's columns", async () => {
    const pool = `apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata:
  name: columns-check-v4
spec:
  ipVersion: 4
  subnet: 10.250.0.0/16
  ips: ["10.250.120.10-10.250.120.20"]
`;
    await kubectlOk(["apply", "-f", "-"], pool);
    try {
      await writeCounts(PLURAL.SpiderIPPool, "columns-check-v4");
      expect(table(await kubectlOk(["get", "sp", "columns-check-v4"]))).to.deep.equal([
        ["NAME", "VERSION", "SUBNET", "ALLOCATED-IP-COUNT", "TOTAL-IP-COUNT", "DEFAULT", "DISABLE"],
        ["columns-check-v4", "4", "10.250.0.0/16", "0", "11", "false", "false"],
      ]);
    } finally {
      await kubectl(["delete", "sp", "columns-check-v4", "--wait=false"]);
    }
  });

  it("rejects a malformed SpiderIPPool with the API server's schema message", async () => {
    const r = await kubectl(
      ["apply", "-f", "-"],
      `apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata:
  name: malformed
spec:
  ipVersion: 5
  ips: ["10.0.0.1"]
`,
    );
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('The SpiderIPPool "malformed" is invalid');
    expect(r.stderr).to.include('spec.ipVersion: Unsupported value: 5: supported values: "4", "6"');
    expect(r.stderr).to.include("spec.subnet: Required value");
    expect((await kubectl(["get", "sp", "malformed"])).stderr).to.include('"malformed" not found');
  });

  it("turns a 2-replica Deployment into 2 Pending pods through the real controller-manager", async () => {
    const { core } = cluster();
    const ns = await createNamespace(core);
    try {
      await kubectlOk(
        ["apply", "-n", ns, "-f", "-"],
        `apiVersion: apps/v1
kind: Deployment
metadata: { name: nginx }
spec:
  replicas: 2
  selector: { matchLabels: { app: nginx } }
  template:
    metadata: { labels: { app: nginx } }
    spec:
      containers: [{ name: nginx, image: nginx, imagePullPolicy: IfNotPresent }]
`,
      );
      const pods = await waitFor("2 pods of deployment nginx", 60_000, async () => {
        const list = await core.listNamespacedPod({ namespace: ns, labelSelector: "app=nginx" });
        return list.items.length === 2 ? list.items : undefined;
      });
      expect(pods.map((p) => p.status?.phase)).to.deep.equal(["Pending", "Pending"]);
      expect(pods.every((p) => p.metadata?.name?.startsWith("nginx-"))).to.be.true;
    } finally {
      await core.deleteNamespace({ name: ns });
    }
  });
});
