/**
 * npm run demo — the seed walkthrough (Spiderpool's "fixed IP" blog post, scripts/seed.ts)
 * on a real local control plane and a real node (kubelet + containerd), with pinpool
 * installed by `kubectl apply -k manifests`: prints each command and its real output, then
 * leaves everything running to explore.
 */
import path from "node:path";
import { unregisterWebhooks } from "./cluster/controller.js";
import { REAL_NODE, deleteSpiderResources, ensureRealNode, installPinpool } from "./cluster/install.js";
import { NGINX, NGINX_M, OVERLAPPING, POOL, SUBNET } from "./seed.js";
import { type KubectlResult, ensureCluster, kubectl, localClients, runProcess, waitFor, wipeSpiderObjects } from "./cluster/local.js";
import { CLIENT4, NODE_NET, ROUTER_NS, outsideFetchCommand, routerRoute } from "./cluster/underlay.js";
import { stateDir } from "./cluster/process.js";
import { query } from "./monitoring/prom-api.js";
import { SCRAPE_SECONDS, startLocalPrometheus, waitForTargetsUp } from "./monitoring/prometheus.js";
import { writeReport } from "./monitoring/report.js";

/** Waits until `count` pods of `selector` run with addresses. */
async function podsRunning(selector: string, count: number): Promise<void> {
  await waitFor(`${count} running pods ${selector}`, 60_000, async () => {
    const r = await kubectl(["get", "po", "-l", selector, "-o", "jsonpath={range .items[*]}{.status.podIP}{\" \"}{.metadata.deletionTimestamp}{\"\\n\"}{end}"]);
    const lines = r.stdout.split("\n").filter((l) => l.trim() !== "");
    return lines.length === count && lines.every((l) => /^\S+ $/.test(l)) ? true : undefined;
  });
}

/** Shows the first pod of `selector` fetching the page the second one serves at its fixed address. */
async function podToPod(selector: string): Promise<void> {
  const r = await kubectl(["get", "po", "-l", selector, "-o", "jsonpath={range .items[*]}{.metadata.name} {.status.podIP}{\"\\n\"}{end}"]);
  const [from, to] = r.stdout.trim().split("\n").map((l) => l.split(" "));
  if (!from?.[0] || !to?.[1]) throw new Error(`expected two pods ${selector}, found: ${r.stdout}`);
  const code = await show(["exec", from[0], "--", "wget", "-qO-", `http://${to[1]}/`], undefined, "one pod reaches the other at its fixed address");
  if (code !== 0) throw new Error(`${from[0]} could not reach ${to[1]}`);
}

/** Prints a command as typed, then its real output. Returns its exit code. */
async function showRun(argv: string[], run: () => Promise<KubectlResult>, stdin?: string, label?: string): Promise<number> {
  const typed = argv.map((a) => (/[\s{}'"[\]]/.test(a) ? `'${a}'` : a)).join(" ");
  console.log(`\n$ ${stdin ? `cat <<EOF | ${typed}\n${stdin}EOF` : typed}${label ? `   # ${label}` : ""}`);
  const r = await run();
  process.stdout.write(r.stdout + r.stderr);
  return r.code;
}

const show = (args: string[], stdin?: string, label?: string): Promise<number> => showRun(["kubectl", ...args], () => kubectl(args, stdin), stdin, label);
const showHost = ([cmd, ...args]: string[], label?: string): Promise<number> => showRun([cmd!, ...args], () => runProcess(cmd!, args), undefined, label);

/** The seed's headline: a client outside the cluster reaches a pod at its fixed address, over the routes the node announced with BGP. */
async function fromOutside(selector: string): Promise<void> {
  const ip = (await kubectl(["get", "po", "-l", selector, "-o", "jsonpath={.items[0].status.podIP}"])).stdout.trim();
  await waitFor(`the router's BGP route to ${ip}`, 30_000, () => routerRoute(ip));
  await showHost(["ip", "netns", "exec", ROUTER_NS, "ip", "route"], "the router outside the node learned each pod's /32 over BGP from the node's BIRD");
  const code = await showHost(outsideFetchCommand(ip), `a client outside the cluster (${CLIENT4}, behind the router) at the pod's fixed address; the pod sees the client's own address`);
  if (code !== 0) throw new Error(`the client outside could not reach ${ip}`);
}

/** The real node's InternalIP: the installed controller and agent serve metrics there (host network). */
async function nodeAddress(): Promise<string> {
  return (await kubectl(["get", "node", REAL_NODE, "-o", 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}'])).stdout.trim();
}

/** Removes what an earlier run of the demo left, through pinpool when it is installed (so every address is released). */
async function cleanSlate(): Promise<void> {
  await kubectl(["delete", "deployment", "nginx", "nginx-m", "--ignore-not-found", "--wait=true"]);
  await waitFor("the demo's pods to be gone", 120_000, async () => ((await kubectl(["get", "po", "-l", "app=nginx", "-o", "name"])).stdout.trim() === "" ? true : undefined));
  const installed = (await kubectl(["get", "deployment", "pinpool-controller", "-n", "pinpool-system", "-o", "name"])).code === 0;
  if (installed) {
    await deleteSpiderResources();
  } else {
    await unregisterWebhooks();
    await wipeSpiderObjects((await localClients()).custom);
    await kubectl(["delete", "configmap", "-n", "pinpool-system", "pinpool-ledger", "--ignore-not-found"]);
  }
}

async function main(): Promise<void> {
  await ensureCluster();
  await ensureRealNode();
  await cleanSlate();
  const plane = NODE_NET === "routed" ? "routed like Calico's BGP mode (pinpool-routed + pinpool IPAM, BIRD announcing each pod to a router outside the node)" : "Debian's bridge plugin + pinpool IPAM";
  console.log(`pinpool demo: kube-apiserver v1.37 on 127.0.0.1; node "${REAL_NODE}": kubelet v1.37 + containerd, pods ${plane}`);
  console.log(`\n$ kubectl apply -k manifests   # pinpool's own image, imported into containerd (no registry)`);
  const tookMs = await installPinpool();
  await show(["get", "po", "-n", "pinpool-system", "-o", "wide"], undefined, `installed in ${(tookMs / 1000).toFixed(1)} s; one node: the second controller replica waits for a node with free host ports`);
  const host = await nodeAddress();
  const prometheus = await startLocalPrometheus({ controllers: [`${host}:9090`], agents: [`${host}:9091`] });
  prometheus.leaveRunning();
  await waitForTargetsUp(prometheus.url);
  const start = Math.floor(Date.now() / 1000);
  console.log(`Prometheus ${prometheus.url} scrapes both every ${SCRAPE_SECONDS} s and evaluates the alerts of manifests/monitoring/prometheusrule.yaml`);

  await show(["apply", "-f", "-"], SUBNET);
  await waitFor("the subnet's counts", 10_000, async () => ((await kubectl(["get", "ss", "nginx-subnet-v4", "-o", "jsonpath={.status.totalIPCount}"])).stdout ? true : undefined));
  await show(["get", "ss"]);
  await show(["create", "-f", "-"], NGINX, "the seed's Deployment: ippool-ip-number '+3'");
  await show(["get", "sp"], undefined, "the auto pool existed when 'kubectl create' returned: 2 replicas + 3 = 5");
  const auto = (await kubectl(["get", "sp", "-o", "jsonpath={.items[0].metadata.name}"])).stdout;
  await show(["get", "sp", auto, "-o", "jsonpath={.spec.ips}"]);
  console.log();
  await podsRunning("app=nginx", 2);
  await show(["get", "po", "-o", "wide"], undefined, "both pods got addresses inside the auto pool");
  await podToPod("app=nginx");
  if (NODE_NET === "routed") await fromOutside("app=nginx");
  await show(["delete", "po", "-l", "app=nginx", "--wait=false"], undefined, "restart the pods");
  await new Promise((r) => setTimeout(r, 500));
  await podsRunning("app=nginx", 2);
  await show(["get", "po", "-o", "wide"], undefined, "the new pods' addresses are again inside the auto pool");
  await show(["scale", "deploy", "nginx", "--replicas", "3"]);
  await podsRunning("app=nginx", 3);
  await show(["get", "po", "-o", "wide"]);
  await show(["get", "sp"], undefined, "the pool grew with the replicas: 3 + 3 = 6, 3 allocated");
  await show(["apply", "-f", "-"], POOL, "the seed's manual pool: 10.244.120.10-20, 11 addresses");
  if ((await show(["create", "-f", "-"], NGINX_M, "a Deployment pinned to the manual pool")) !== 0) throw new Error("nginx-m was refused");
  await waitFor("nginx-m's pods", 60_000, async () => ((await kubectl(["get", "po", "-o", "wide"])).stdout.match(/nginx-m-\S+\s+1\/1\s+Running/g)?.length === 2 ? true : undefined));
  await show(["get", "po", "-o", "wide"], undefined, "nginx-m's pods take addresses from 10.244.120.10-20 only");
  await show(["get", "sp"]);
  const denied = await show(["apply", "-f", "-"], OVERLAPPING, "a pool overlapping nginx-v4-ippool is refused");
  if (denied === 0) throw new Error("the overlapping pool was admitted; the demo expected a denial");
  await show(["get", "ss"], undefined, "the subnet's ledger: 6 + 11 addresses handed to pools");
  // The page covers the run up to a scrape that has seen nginx-m's pods in the manual pool.
  await waitFor("Prometheus to see nginx-m's 2 addresses", 30_000, async () => ((await query(prometheus.url, 'pinpool_ippool_allocated_ips{pool="nginx-v4-ippool"} == 2')).length > 0 ? true : undefined));
  // A few more scrapes, so the page shows the final state as lines rather than a last point.
  await new Promise((r) => setTimeout(r, 5 * SCRAPE_SECONDS * 1000));
  const report = path.join(stateDir, "prometheus", "report.html");
  await writeReport(prometheus.url, start, Math.ceil(Date.now() / 1000), SCRAPE_SECONDS, report);
  console.log(`
The cluster, the node and pinpool (installed with kubectl apply -k manifests) keep running. Explore with:
  scripts/cluster/kubectl get ss,sp,se,po -o wide
  scripts/cluster/kubectl get sp ${auto} -o yaml
Prometheus (alerts, graphs): ${prometheus.url}/graph   e.g. max by (pool) (pinpool_ippool_allocated_ips)
Pool and subnet utilisation and CNI ADD latency over this run: file://${report}
Stop everything with: npm run cluster:down`);
}

await main();
