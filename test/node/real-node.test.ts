/**
 * On a real node (kubelet + containerd, scripts/cluster/node.sh), with pinpool installed as
 * users install it (`kubectl apply -k manifests`, its own image): what the simulated node
 * cannot show. The runtime makes the CNI calls, terminating pods hold their addresses until
 * their containers stop, and the agent and the kubelet can die under running pods.
 */
import { existsSync, readdirSync } from "node:fs";
import type * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { REAL_NODE, installPinpool, nodeAction, uninstallPinpool } from "../../scripts/cluster/install.js";
import { createNamespace, kubectl, kubectlOk, runProcess, waitFor } from "../../scripts/cluster/local.js";
import { slowStopDeployment } from "../../scripts/cluster/workloads.js";
import { NGINX, NGINX_M, OVERLAPPING, POOL, SUBNET } from "../../scripts/seed.js";
import { pool, poolHolds } from "../e2e/helpers.js";
import { autoPoolOf, holdings, readyPods } from "./helpers.js";
import { cluster } from "../integration/setup.js";

describe(`a real node (${REAL_NODE}: kubelet + containerd), pinpool installed with kubectl apply -k manifests`, function () {
  this.timeout(300_000);
  let namespace: string;
  let nginxPool: string;

  before(async function () {
    this.timeout(600_000);
    // The demo's workloads would hold addresses of the seed's subnet.
    await kubectl(["delete", "deployment", "nginx", "nginx-m", "-n", "default", "--ignore-not-found", "--wait=true"]);
    const took = await installPinpool();
    console.log(`      install (images imported, kubectl apply -k manifests, agent and a controller replica ready): ${(took / 1000).toFixed(1)} s`);
    namespace = await createNamespace(cluster().core, "node");
  });

  after(async () => {
    await kubectl(["delete", "namespace", namespace, "--ignore-not-found", "--wait=false"]);
  });

  it("replays the seed with real containers: addresses inside the auto pool, pod to pod over HTTP, the pool follows scale, overlaps refused", async () => {
    await kubectlOk(["apply", "-f", "-"], SUBNET);
    await kubectlOk(["create", "-n", namespace, "-f", "-"], NGINX);
    nginxPool = await autoPoolOf(namespace, "nginx");
    const [a, b] = await readyPods(namespace, "app=nginx", 2);
    for (const p of [a, b]) expect(await poolHolds(nginxPool, p!.ip), `${p!.name} ${p!.ip} in ${nginxPool}`).to.equal(true);
    // The app serves a page naming its own address: b's page, fetched by a at b's fixed address.
    const page = await kubectlOk(["exec", "-n", namespace, a!.name, "--", "wget", "-qO-", `http://${b!.ip}/`]);
    expect(page).to.include(b!.ip);

    await kubectlOk(["delete", "po", "-n", namespace, "-l", "app=nginx", "--wait=false"]);
    const again = await readyPods(namespace, "app=nginx", 2);
    expect(again.map((p) => p.uid)).to.not.include(a!.uid);
    for (const p of again) expect(await poolHolds(nginxPool, p.ip)).to.equal(true);

    await kubectlOk(["scale", "-n", namespace, "deploy", "nginx", "--replicas", "3"]);
    await readyPods(namespace, "app=nginx", 3);
    await waitFor("the auto pool to hold 3 + 3 addresses", 30_000, async () => ((await pool(nginxPool)).status?.totalIPCount === 6 ? true : undefined));

    await kubectlOk(["apply", "-f", "-"], POOL);
    await kubectlOk(["create", "-n", namespace, "-f", "-"], NGINX_M.replaceAll("app: nginx\n", "app: nginx-m\n"));
    for (const p of await readyPods(namespace, "app=nginx-m", 2)) expect(await poolHolds("nginx-v4-ippool", p.ip), p.ip).to.equal(true);
    const refused = await kubectl(["apply", "-f", "-"], OVERLAPPING);
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr).to.equal(
      'Error from server (Forbidden): error when creating "STDIN": admission webhook "validate.pinpool.io" denied the request: SpiderIPPool "nginx-v4-ippool-2" overlaps SpiderIPPool "nginx-v4-ippool" at 10.244.120.18-10.244.120.20\n',
    );
  });

  it("gives a restarted StatefulSet pod its address back", async () => {
    const sts = `apiVersion: apps/v1
kind: StatefulSet
metadata: { name: web }
spec:
  replicas: 2
  serviceName: web
  selector: { matchLabels: { app: web } }
  template:
    metadata:
      labels: { app: web }
      annotations: { ipam.spidernet.io/subnet: '{"ipv4":["nginx-subnet-v4"]}', ipam.spidernet.io/ippool-ip-number: "+1" }
    spec: { terminationGracePeriodSeconds: 5, containers: [{ name: web, image: pinpool.local/httpd:1, imagePullPolicy: Never }] }
`;
    await kubectlOk(["apply", "-n", namespace, "-f", "-"], sts);
    const before = await readyPods(namespace, "app=web", 2);
    await kubectlOk(["delete", "po", "-n", namespace, "web-0", "--wait=true"]);
    const after = await readyPods(namespace, "app=web", 2);
    expect(after[0]!.uid).to.not.equal(before[0]!.uid);
    expect(after.map((p) => [p.name, p.ip])).to.deep.equal(before.map((p) => [p.name, p.ip]));
  });

  it("a rollout restart whose old pods take seconds to stop has no failed sandbox on the default +1 pool", async () => {
    // Old pods keep their addresses through preStop: a surge pod that finds the +1 pool
    // full waits at the agent for a stopping pod's address instead of failing its sandbox.
    const yaml = slowStopDeployment({ name: "slow-stop", replicas: 3, stopSeconds: 4, annotations: { "ipam.spidernet.io/subnet": '{"ipv4":["nginx-subnet-v4"]}' } });
    await kubectlOk(["apply", "-n", namespace, "-f", "-"], yaml);
    await kubectlOk(["rollout", "status", "-n", namespace, "deployment/slow-stop", "--timeout=120s"]);
    const size = (await pool(await autoPoolOf(namespace, "slow-stop"))).status?.totalIPCount;
    expect(size, "3 replicas + 1").to.equal(4);
    const restarted = new Date(Math.floor(Date.now() / 1000) * 1000); // events carry whole seconds
    await kubectlOk(["rollout", "restart", "-n", namespace, "deployment/slow-stop"]);
    await kubectlOk(["rollout", "status", "-n", namespace, "deployment/slow-stop", "--timeout=120s"]);
    await readyPods(namespace, "app=slow-stop", 3);
    const events = await cluster().core.listNamespacedEvent({ namespace, fieldSelector: "reason=FailedCreatePodSandBox" });
    const mine = events.items.filter((e) => e.involvedObject.name?.startsWith("slow-stop-") && (e.lastTimestamp ?? e.eventTime ?? new Date(0)) >= restarted);
    expect(mine.map((e) => e.message)).to.deep.equal([]);
    // And it was the wait that did it: a surge pod found the pool full and waited.
    const agentLog = await kubectlOk(["logs", "-n", "pinpool-system", "daemonset/pinpool-agent", `--since-time=${restarted.toISOString()}`]);
    expect(agentLog).to.match(new RegExp(`"pod":"${namespace}/slow-stop-[^"]+".*every IPv4 pool is full; waiting up to \\d+ s for the address ${namespace}/slow-stop-`));
    await kubectlOk(["delete", "deployment", "-n", namespace, "slow-stop", "--wait=true"]);
  });

  it("kubelet restarted: running pods keep their containers and addresses, nothing is released", async () => {
    const pods = await readyPods(namespace, "app=nginx", 3);
    const held = await holdings(nginxPool);
    const containers = async (source: "api" | "kubelet"): Promise<string[]> => {
      // The kubelet's own view (through the API server's node proxy) comes from the kubelet
      // running now; the API's pod statuses could be what the stopped one last wrote.
      const list = source === "api" ? await cluster().core.listNamespacedPod({ namespace, labelSelector: "app=nginx" }) : (JSON.parse(await kubectlOk(["get", "--raw", `/api/v1/nodes/${REAL_NODE}/proxy/pods`])) as k8s.V1PodList);
      return list.items
        .filter((p) => p.metadata?.namespace === namespace && p.metadata.labels?.app === "nginx")
        .map((p) => `${p.metadata?.uid} ${p.status?.podIP} ${p.status?.containerStatuses?.[0]?.containerID} restarts=${p.status?.containerStatuses?.[0]?.restartCount}`)
        .sort();
    };
    const before = await containers("api");
    await nodeAction("restart-kubelet");
    await waitFor("the new kubelet to report the running pods", 60_000, async () => ((await containers("kubelet")).length === 3 ? true : undefined));
    expect(await containers("kubelet")).to.deep.equal(before); // same pods, addresses and containers, no restart
    expect(await readyPods(namespace, "app=nginx", 3)).to.deep.equal(pods);
    expect(await holdings(nginxPool)).to.deep.equal(held);
  });

  it("agent killed on the node during pod creation: the pods get addresses once it is back, no duplicate, no leak", async () => {
    await kubectlOk(["scale", "-n", namespace, "deploy", "nginx", "--replicas", "6"]);
    await waitFor("a new pod bound to the node and not yet running", 30_000, async () => {
      const list = await cluster().core.listNamespacedPod({ namespace, labelSelector: "app=nginx" });
      return list.items.some((p) => p.spec?.nodeName && p.status?.phase === "Pending") ? true : undefined;
    });
    // A crash, not a clean stop: SIGKILL to the agent's process on the node; the kubelet restarts its container.
    const killed = await runProcess("pkill", ["-9", "-f", "^node dist/src/agent/main.js"]);
    expect(killed.code, "pkill found the agent's process").to.equal(0);
    const pods = await readyPods(namespace, "app=nginx", 6, 180_000);
    expect(new Set(pods.map((p) => p.ip)).size).to.equal(6);
    for (const p of pods) expect(await poolHolds(nginxPool, p.ip)).to.equal(true);
    await waitFor("the pool to hold exactly the running pods' addresses", 60_000, async () => ((await pool(nginxPool)).status?.allocatedIPCount === 6 ? true : undefined));
  });

  it("agent stopped: pod deletion still completes; the address is released once the agent and controller are back", async () => {
    await kubectlOk(["scale", "-n", namespace, "deploy", "nginx", "--replicas", "2"]);
    await readyPods(namespace, "app=nginx", 2);
    await waitFor("the pool to count 2 allocated", 60_000, async () => ((await pool(nginxPool)).status?.allocatedIPCount === 2 ? true : undefined));
    // The agent leaves the node: no pod of the DaemonSet may run there.
    await kubectlOk(["patch", "ds", "-n", "pinpool-system", "pinpool-agent", "--type=merge", "-p", '{"spec":{"template":{"spec":{"nodeSelector":{"pinpool.io/no-such-node":"true"}}}}}']);
    await waitFor("the agent to be gone", 60_000, async () => ((await kubectlOk(["get", "po", "-n", "pinpool-system", "-l", "app.kubernetes.io/name=pinpool-agent", "-o", "name"])).trim() === "" ? true : undefined));
    await kubectlOk(["scale", "-n", namespace, "deploy", "nginx", "--replicas", "1"]);
    await readyPods(namespace, "app=nginx", 1, 60_000); // the deleted pod is gone: its CNI DEL failed open
    await kubectlOk(["patch", "ds", "-n", "pinpool-system", "pinpool-agent", "--type=json", "-p", '[{"op":"remove","path":"/spec/template/spec/nodeSelector"}]']);
    await kubectlOk(["rollout", "status", "-n", "pinpool-system", "ds/pinpool-agent", "--timeout=120s"]);
    await waitFor("the controller to release the gone pod's address", 90_000, async () => ((await pool(nginxPool)).status?.allocatedIPCount === 1 ? true : undefined));
  });

  it("uninstalls as README says, leaving no pod, pool, finalizer, netns or plugin binary", async function () {
    this.timeout(600_000);
    const took = await uninstallPinpool([namespace]);
    console.log(`      uninstall (workloads, pools and subnets, kubectl delete -k manifests, the plugin binary): ${(took / 1000).toFixed(1)} s`);
    expect((await kubectl(["get", "crd", "spiderippools.spiderpool.spidernet.io"])).code).to.not.equal(0);
    expect((await kubectl(["get", "namespace", "pinpool-system"])).code).to.not.equal(0);
    expect((await kubectlOk(["get", "pods", "-n", namespace, "-o", "name"])).trim()).to.equal("");
    expect(existsSync("/opt/cni/bin/pinpool")).to.equal(false);
    expect(existsSync("/run/netns") ? readdirSync("/run/netns").filter((n) => n.startsWith("cni-")) : []).to.deep.equal([]);
    // The CRDs are the local cluster's own: put them back for the next run.
    await kubectlOk(["apply", "-k", "manifests/crds"]);
    await kubectlOk(["wait", "--for", "condition=Established", "--timeout=60s", "crd", "--all"]);
  });
});
