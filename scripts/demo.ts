/**
 * npm run demo — the seed walkthrough (Spiderpool's "fixed IP" blog post) on a real local
 * control plane with pinpool's controller: prints each command and its real output, then
 * leaves the cluster running to explore.
 *
 * The blog's YAML has two typos that no kubectl accepts (`-name: nginx` for `- name: nginx`,
 * and the SpiderIPPool's `spec` indented under `metadata`); they are fixed here, nothing else.
 */
import path from "node:path";
import { buildPlugin, startLocalAgent, startLocalNode } from "./cluster/agent.js";
import { startLocalController, unregisterWebhooks } from "./cluster/controller.js";
import { ensureCluster, kubectl, localClients, waitFor, wipeSpiderObjects } from "./cluster/local.js";
import { stateDir } from "./cluster/process.js";
import { query } from "./monitoring/prom-api.js";
import { SCRAPE_SECONDS, startLocalPrometheus, waitForTargetsUp } from "./monitoring/prometheus.js";
import { writeReport } from "./monitoring/report.js";

/** PINPOOL_DEMO_NODE renames the node (and its network namespace pinpool-<node>) for a second checkout. */
const NODE = process.env.PINPOOL_DEMO_NODE || "worker1";

/** Waits until `count` pods of `selector` run with addresses (the simulated node sets them up). */
async function podsRunning(selector: string, count: number): Promise<void> {
  await waitFor(`${count} running pods ${selector}`, 60_000, async () => {
    const r = await kubectl(["get", "po", "-l", selector, "-o", "jsonpath={range .items[*]}{.status.podIP}{\" \"}{.metadata.deletionTimestamp}{\"\\n\"}{end}"]);
    const lines = r.stdout.split("\n").filter((l) => l.trim() !== "");
    return lines.length === count && lines.every((l) => /^\S+ $/.test(l)) ? true : undefined;
  });
}

const SUBNET = `apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderSubnet
metadata:
  name: nginx-subnet-v4
spec:
  subnet: 10.244.0.0/16
  ips:
  - 10.244.100.90-10.244.200.91
`;

const NGINX = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  replicas: 2
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      annotations:
        ipam.spidernet.io/subnet: '{"ipv4":["nginx-subnet-v4"]}'
        ipam.spidernet.io/ippool-ip-number: '+3'
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx
        imagePullPolicy: IfNotPresent
        ports:
        - name: http
          containerPort: 80
          protocol: TCP
`;

const POOL = `apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata:
  name: nginx-v4-ippool
spec:
  ipVersion: 4
  subnet: 10.244.0.0/16
  ips:
  - 10.244.120.10-10.244.120.20
`;

const OVERLAPPING = POOL.replace("name: nginx-v4-ippool", "name: nginx-v4-ippool-2").replace("10.244.120.10-10.244.120.20", "10.244.120.18-10.244.120.30");

const NGINX_M = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-m
spec:
  replicas: 2
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      annotations:
        ipam.spidernet.io/ippool: '{"ipv4":["nginx-v4-ippool"]}'
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx
        imagePullPolicy: IfNotPresent
        ports:
        - name: http
          containerPort: 80
          protocol: TCP
`;

/** Prints a command as typed, then its real output. Returns its exit code. */
async function show(args: string[], stdin?: string, label?: string): Promise<number> {
  const typed = `kubectl ${args.map((a) => (/[\s{}'"[\]]/.test(a) ? `'${a}'` : a)).join(" ")}`;
  console.log(`\n$ ${stdin ? `cat <<EOF | ${typed}\n${stdin}EOF` : typed}${label ? `   # ${label}` : ""}`);
  const r = await kubectl(args, stdin);
  process.stdout.write(r.stdout + r.stderr);
  return r.code;
}

async function main(): Promise<void> {
  const kubeconfig = await ensureCluster();
  // Start from a clean slate, so the demo can run again (webhooks off while clearing).
  await unregisterWebhooks();
  await kubectl(["delete", "deployment", "nginx", "nginx-m", "--ignore-not-found"]);
  await kubectl(["delete", "pods", "--all", "--grace-period=0", "--force"]);
  const { custom } = await localClients();
  await kubectl(["delete", "spiderendpoints", "--all"]);
  await wipeSpiderObjects(custom);
  await kubectl(["delete", "configmap", "-n", "pinpool-system", "pinpool-ledger", "--ignore-not-found"]);
  const controller = await startLocalController(kubeconfig);
  await buildPlugin();
  const agent = await startLocalAgent(kubeconfig, NODE);
  const node = await startLocalNode(kubeconfig, NODE, agent.socket);
  const prometheus = await startLocalPrometheus({ controllers: [controller.metricsPort], agents: [agent.metricsPort] });
  for (const c of [controller, agent, node, prometheus]) c.leaveRunning();
  await waitForTargetsUp(prometheus.url);
  const start = Math.floor(Date.now() / 1000);
  console.log(`pinpool demo: kube-apiserver v1.37 on 127.0.0.1, pinpool-controller on 127.0.0.1:${controller.port},`);
  console.log(`node "${NODE}": pinpool-agent on ${agent.socket}, pods in network namespaces via Debian's bridge plugin + pinpool IPAM`);
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
The cluster, pinpool-controller, pinpool-agent and the simulated node keep running. Explore with:
  scripts/cluster/kubectl get ss,sp,se,po -o wide
  scripts/cluster/kubectl get sp ${auto} -o yaml
Prometheus (alerts, graphs): ${prometheus.url}/graph   e.g. max by (pool) (pinpool_ippool_allocated_ips)
Pool and subnet utilisation and CNI ADD latency over this run: file://${report}
Stop everything with: npm run cluster:down`);
}

await main();
