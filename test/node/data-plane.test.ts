/**
 * The seed's data plane on the real node: Calico-style routing (pinpool-routed: a veth and
 * /32, /128 host routes per pod, the host as every pod's gateway) with pinpool as IPAM, and
 * BGP from the node to a router outside it (scripts/cluster/underlay.sh). Any subnet on any
 * pod, both families, and clients outside the cluster reach a pod at its fixed address.
 */
import { expect } from "chai";
import { LABEL } from "../../src/api/labels.js";
import { ensureRealNode, installPinpool } from "../../scripts/cluster/install.js";
import { createNamespace, kubectl, kubectlOk, runProcess, waitFor } from "../../scripts/cluster/local.js";
import { CLIENT4, CLIENT6, ROUTER_NS, fetchFromOutside, routerRoute } from "../../scripts/cluster/underlay.js";
import { poolHolds, subnetYaml } from "../e2e/helpers.js";
import { cluster } from "../integration/setup.js";
import { type NodePod, autoPoolOf, readyPods } from "./helpers.js";

const SUBNETS = [
  subnetYaml("routed-a", "10.252.0.0/16", "10.252.1.1-10.252.1.100"),
  subnetYaml("routed-b", "10.253.0.0/16", "10.253.1.1-10.253.1.100"),
  subnetYaml("routed-v6", "fd10:253::/64", "fd10:253::100-fd10:253::1ff"),
];

const workload = (kind: "Deployment" | "StatefulSet", name: string, subnets: Record<string, string[]>): string => `apiVersion: apps/v1
kind: ${kind}
metadata: { name: ${name} }
spec:
  replicas: 2
  ${kind === "StatefulSet" ? `serviceName: ${name}` : ""}
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata:
      labels: { app: ${name} }
      annotations: { ipam.spidernet.io/subnet: '${JSON.stringify(subnets)}', ipam.spidernet.io/ippool-ip-number: "+1" }
    spec: { terminationGracePeriodSeconds: 5, containers: [{ name: web, image: pinpool.local/httpd:1, imagePullPolicy: Never }] }
`;

const isV6 = (ip: string): boolean => ip.includes(":");
const url = (ip: string): string => (isV6(ip) ? `http://[${ip}]/` : `http://${ip}/`);

/** The page `from` fetches from `ip` with busybox wget inside its container. */
async function fetchFrom(namespace: string, from: NodePod, ip: string): Promise<string> {
  return kubectlOk(["exec", "-n", namespace, from.name, "--", "wget", "-qO-", url(ip)]);
}

/** Which of `pools` holds `ip`. */
async function poolOf(ip: string, pools: string[]): Promise<string | undefined> {
  for (const p of pools) if (await poolHolds(p, ip)) return p;
  return undefined;
}

describe("the routed data plane: pods of any subnet, both families, reached from outside the node over BGP", function () {
  this.timeout(300_000);
  let namespace: string;
  let alpha: NodePod[], beta: NodePod[], gamma: NodePod[];

  before(async function () {
    this.timeout(600_000);
    await ensureRealNode("routed");
    await installPinpool();
    namespace = await createNamespace(cluster().core, "routed");
    for (const s of SUBNETS) await kubectlOk(["apply", "-f", "-"], s);
  });

  after(async function () {
    this.timeout(300_000);
    // The auto pools go with their workloads; the subnets once their ledgers are empty.
    await kubectl(["delete", "namespace", namespace, "--wait=true", "--timeout=180s"]);
    await waitFor("the suite's auto pools to be gone", 120_000, async () => ((await kubectlOk(["get", "sp", "-l", `${LABEL.ownerNamespace}=${namespace}`, "-o", "name"])).trim() === "" ? true : undefined));
    await kubectl(["delete", "ss", "routed-a", "routed-b", "routed-v6", "--ignore-not-found", "--wait=true", "--timeout=60s"]);
  });

  it("runs Deployments of two subnets and a dual-stack StatefulSet side by side, each pod on addresses of its own pools, and they reach each other across the subnets", async () => {
    await kubectlOk(["apply", "-n", namespace, "-f", "-"], workload("Deployment", "alpha", { ipv4: ["routed-a"] }));
    await kubectlOk(["apply", "-n", namespace, "-f", "-"], workload("Deployment", "beta", { ipv4: ["routed-b"] }));
    await kubectlOk(["apply", "-n", namespace, "-f", "-"], workload("StatefulSet", "gamma", { ipv4: ["routed-b"], ipv6: ["routed-v6"] }));
    [alpha, beta, gamma] = await Promise.all([readyPods(namespace, "app=alpha", 2), readyPods(namespace, "app=beta", 2), readyPods(namespace, "app=gamma", 2)]);
    const mine = (await kubectlOk(["get", "sp", "-l", `${LABEL.ownerNamespace}=${namespace}`, "-o", "name"])).split("\n").filter(Boolean).map((n) => n.replace(/^.*\//, ""));
    const [alphaPool, betaPool] = [await autoPoolOf(namespace, "alpha"), await autoPoolOf(namespace, "beta")];
    expect(mine, "alpha and beta have one pool each, gamma one per family").to.have.length(4);
    const gammaPools = mine.filter((p) => p !== alphaPool && p !== betaPool);

    for (const p of alpha) expect(await poolOf(p.ip, [alphaPool]), `${p.name} ${p.ip}`).to.equal(alphaPool);
    for (const p of beta) expect(await poolOf(p.ip, [betaPool]), `${p.name} ${p.ip}`).to.equal(betaPool);
    for (const p of gamma) {
      expect(p.ips, `${p.name}: one address per family`).to.have.length(2);
      const [v4, v6] = [p.ips.find((ip) => !isV6(ip))!, p.ips.find(isV6)!];
      expect(v4, `${p.name} IPv4`).to.match(/^10\.253\.1\./);
      expect(v6, `${p.name} IPv6`).to.match(/^fd10:253::1[0-9a-f]{2}$/);
      expect(await poolOf(v4, gammaPools), `${p.name} ${v4} in one of gamma's pools`).to.not.equal(undefined);
      expect(await poolOf(v6, gammaPools), `${p.name} ${v6} in one of gamma's pools`).to.not.equal(undefined);
    }
    // Across subnets, through the node's routes; the page names the caller's own address (no NAT).
    const page = await fetchFrom(namespace, alpha[0]!, beta[0]!.ip);
    expect(page).to.include(`ip=${beta[0]!.ip}\n`).and.include(`client=${alpha[0]!.ip}\n`);
    const back = await fetchFrom(namespace, beta[1]!, alpha[1]!.ip);
    expect(back).to.include(`ip=${alpha[1]!.ip}\n`).and.include(`client=${beta[1]!.ip}\n`);
    const v6Target = gamma[1]!.ips.find(isV6)!;
    const v6Page = await fetchFrom(namespace, gamma[0]!, v6Target);
    expect(v6Page).to.include(`ip6=${v6Target}\n`).and.include(`client=${gamma[0]!.ips.find(isV6)}\n`);
  });

  it("gives a deleted StatefulSet pod both its addresses back", async () => {
    await kubectlOk(["delete", "po", "-n", namespace, "gamma-0", "--wait=true"]);
    const again = await readyPods(namespace, "app=gamma", 2);
    expect(again[0]!.uid).to.not.equal(gamma[0]!.uid);
    expect(again.map((p) => [p.name, [...p.ips].sort()])).to.deep.equal(gamma.map((p) => [p.name, [...p.ips].sort()]));
    gamma = again;
  });

  it("lets a client outside the cluster reach every pod at its fixed address over the routes BGP announced, keeping the client's address", async () => {
    for (const p of [...alpha, ...beta, ...gamma]) {
      for (const ip of p.ips) {
        const route = await waitFor(`the router's BGP route to ${p.name} ${ip}`, 30_000, () => routerRoute(ip));
        expect(route, `learned from the node`).to.include(isV6(ip) ? "via fd99:18:1::1" : "via 198.18.1.1");
        const page = await fetchFromOutside(ip);
        expect(page).to.include(`${isV6(ip) ? "ip6" : "ip"}=${ip}\n`).and.include(`hostname=${p.name}\n`);
        expect(page).to.include(`client=${isV6(ip) ? CLIENT6 : CLIENT4}\n`);
      }
    }
  });

  it("withdraws a pod's route from the router when the pod goes", async () => {
    await kubectlOk(["delete", "deployment", "-n", namespace, "alpha", "--wait=true"]);
    for (const p of alpha) {
      await waitFor(`${p.name}'s pod to be gone`, 60_000, async () => ((await kubectl(["get", "po", "-n", namespace, p.name])).code !== 0 ? true : undefined));
      await waitFor(`the router to forget ${p.ip}`, 30_000, async () => ((await routerRoute(p.ip)) === undefined ? true : undefined));
    }
    // The other pods' routes stay.
    for (const p of beta) expect(await routerRoute(p.ip), p.name).to.not.equal(undefined);
  });

  it("drops what a pod sends from an address that is not its own (reverse-path check on the pin* veths)", async () => {
    // A stand-in pod wired as pinpool-routed wires one, holding 10.252.9.9 and, not routed to
    // it, 10.252.9.10. The router counts the echo requests that reach it: only those from the
    // pod's own address may.
    const [ns, veth] = ["pinpool-spoof-test", "pinspooftest0"];
    const sh = async (...args: string[]): Promise<void> => {
      const r = await runProcess("ip", args);
      if (r.code !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
    };
    const echoesAtRouter = async (): Promise<number> => {
      const snmp = (await runProcess("ip", ["netns", "exec", ROUTER_NS, "cat", "/proc/net/snmp"])).stdout.split("\n").filter((l) => l.startsWith("Icmp:"));
      const [names, values] = snmp.map((l) => l.split(/\s+/));
      return Number(values![names!.indexOf("InEchos")]);
    };
    const pingFrom = async (source: string): Promise<number> => {
      const before = await echoesAtRouter();
      await runProcess("ip", ["netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "1", "-I", source, CLIENT4]);
      return (await echoesAtRouter()) - before;
    };
    await runProcess("ip", ["netns", "del", ns]);
    try {
      await sh("netns", "add", ns);
      await sh("link", "add", veth, "address", "ee:ee:ee:ee:ee:ee", "type", "veth", "peer", "name", "eth0", "netns", ns);
      for (const k of ["proxy_arp", "forwarding"]) await runProcess("sysctl", ["-qw", `net.ipv4.conf.${veth}.${k}=1`]);
      await sh("link", "set", veth, "up");
      await sh("-n", ns, "link", "set", "eth0", "up");
      await sh("-n", ns, "addr", "add", "10.252.9.9/32", "dev", "eth0");
      await sh("-n", ns, "addr", "add", "10.252.9.10/32", "dev", "eth0");
      await sh("-n", ns, "route", "add", "169.254.1.1/32", "dev", "eth0", "scope", "link");
      await sh("-n", ns, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0");
      await sh("route", "add", "10.252.9.9/32", "dev", veth, "proto", "static", "scope", "link");
      await waitFor("the router's route to the stand-in pod", 30_000, () => routerRoute("10.252.9.9"));
      expect(await pingFrom("10.252.9.9"), "echo requests from the pod's own address").to.equal(3);
      expect(await pingFrom("10.252.9.10"), "echo requests from an address routed elsewhere").to.equal(0);
    } finally {
      await runProcess("ip", ["netns", "del", ns]); // takes the veth and its route along
    }
  });
});
