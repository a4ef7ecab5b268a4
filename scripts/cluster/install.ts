/**
 * pinpool installed on the local cluster as users install it: `kubectl apply -k manifests`
 * with the project's own image on the real node (scripts/cluster/node.sh), and removed as
 * README "Uninstall" says. Used by the demo and the e2e tests.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { CONTROLLER_NAMESPACE, LOCAL_TIMINGS, unregisterWebhooks, waitForWebhooks, webhookClientCertificate } from "./controller.js";
import { kubectl, kubectlOk, repoRoot, waitFor } from "./local.js";
import { stateDir } from "./process.js";

const run = promisify(execFile);

/** The real node's name (PINPOOL_REAL_NODE_NAME, as in scripts/cluster/lib.sh). */
export const REAL_NODE = process.env.PINPOOL_REAL_NODE_NAME || "node1";
const nodeScript = path.join(repoRoot, "scripts/cluster/node.sh");
const containerdSocket = path.join(stateDir, "node/containerd/containerd.sock");

/**
 * Starts the cluster with the real node and its scheduler unless they run, and lets the
 * scheduler use the node (the integration tests cordon it). `net` overrides the data plane
 * PINPOOL_NODE_NET names (node.sh: routed by default, or bridge).
 */
export async function ensureRealNode(net?: "routed" | "bridge"): Promise<void> {
  const env = { ...process.env, PINPOOL_NODE: "real", ...(net ? { PINPOOL_NODE_NET: net } : {}) };
  await run("bash", [path.join(repoRoot, "scripts/cluster/up.sh")], { maxBuffer: 16 << 20, env });
  await kubectlOk(["uncordon", REAL_NODE]);
  // Every other Node of the local cluster is a simulated one an earlier test registered, with
  // no kubelet: the agent DaemonSet would put a pod on each that never runs nor goes (pod GC
  // removes them with their node).
  const others = (await kubectlOk(["get", "nodes", "-o", "name"])).split("\n").filter((n) => n.trim() !== "" && n.trim() !== `node/${REAL_NODE}`);
  if (others.length > 0) await kubectlOk(["delete", ...others, "--wait=true"]);
}

/** Runs node.sh's fault helpers: stop-kubelet, start-kubelet, restart-kubelet. */
export async function nodeAction(action: "stop-kubelet" | "start-kubelet" | "restart-kubelet"): Promise<void> {
  await run("bash", [nodeScript, action], { maxBuffer: 16 << 20 });
}

/** The pinpool processes the tests run on the host (scripts/cluster/controller.ts, agent.ts) would fight an install for the Lease. */
async function stopLocalComponents(): Promise<void> {
  await run("bash", ["-c", `for c in pinpool-controller pinpool-controller-2 pinpool-agent; do f="${stateDir}/pids/$c.pid"; [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; rm -f "$f"; done; true`]);
  await unregisterWebhooks();
}

/**
 * `kubectl apply -k manifests` on the real node: images imported, certificates from
 * webhook-certs/generate.sh, the local cluster's short timings in the optional ConfigMap
 * pinpool-settings. Resolves once the agent runs, a controller replica is ready and the API
 * server routes admissions to it through the Service. Returns how long it took (ms).
 */
export async function installPinpool(): Promise<number> {
  const started = Date.now();
  await ensureRealNode();
  await stopLocalComponents();
  await run("bash", [path.join(repoRoot, "scripts/cluster/images.sh"), "import", containerdSocket], { maxBuffer: 16 << 20 });
  // Made once: a renewed certificate renames the generated Secret, which changes the pod
  // template, and on one node a new host-network replica cannot start beside the old one.
  const certs = path.join(repoRoot, "manifests/certs");
  if (!existsSync(path.join(certs, "tls.crt")) || !existsSync(path.join(certs, "client-ca.crt"))) await run("bash", [path.join(repoRoot, "webhook-certs/generate.sh"), certs]);
  // The API server shows the certificate up.sh made from these certificates: certificates made
  // since (manifests/certs deleted) would have the installed webhook refuse it.
  const shown = webhookClientCertificate().cert;
  await run("openssl", ["verify", "-CAfile", path.join(certs, "client-ca.crt"), shown]).catch((e: unknown) => {
    throw new Error(`the API server's webhook client certificate ${shown} is not signed by ${certs}/client-ca.crt (made again since the cluster started?); restart the cluster: npm run cluster:down && npm run cluster:up`, { cause: e });
  });
  await kubectl(["create", "namespace", CONTROLLER_NAMESPACE]); // AlreadyExists is fine
  const settings = Object.entries(LOCAL_TIMINGS).map(([k, v]) => `--from-literal=${k}=${v}`);
  await kubectlOk(["apply", "-f", "-"], (await kubectlOk(["create", "configmap", "pinpool-settings", "-n", CONTROLLER_NAMESPACE, ...settings, "--dry-run=client", "-o", "yaml"])));
  const reinstall = (await kubectl(["get", "deployment/pinpool-controller", "-n", CONTROLLER_NAMESPACE])).code === 0;
  await kubectlOk(["apply", "-k", path.join(repoRoot, "manifests")]);
  // The image keeps its tag when this checkout's code changes: running pods would go on with
  // the old one. Their controllers recreate them from the new image. (Not `rollout restart`:
  // on one node a new host-network replica could never start beside the old one.)
  if (reinstall) await kubectlOk(["delete", "pods", "-n", CONTROLLER_NAMESPACE, "-l", "app.kubernetes.io/part-of=pinpool", "--wait=true"]);
  await kubectlOk(["rollout", "status", "-n", CONTROLLER_NAMESPACE, "daemonset/pinpool-agent", "--timeout=120s"]);
  // One node: the second replica waits for a node whose host ports are free.
  await kubectlOk(["wait", "-n", CONTROLLER_NAMESPACE, "deployment/pinpool-controller", "--for=jsonpath={.status.readyReplicas}=1", "--timeout=120s"]);
  await waitForWebhooks();
  return Date.now() - started;
}

/** Every pool, then every subnet and reserved IP, through pinpool (a subnet is refused while its ledger still lists a pool). */
export async function deleteSpiderResources(): Promise<void> {
  for (const kind of ["spiderippools", "spidersubnets", "spiderreservedips"]) await kubectlOk(["delete", kind, "--all", "--wait=true", "--timeout=120s"]);
}

/** README "Uninstall", step by step; resolves once nothing pinpool made is left. Returns how long it took (ms). */
export async function uninstallPinpool(workloadNamespaces: string[]): Promise<number> {
  const started = Date.now();
  for (const ns of workloadNamespaces) await kubectl(["delete", "deployments,statefulsets", "--all", "-n", ns, "--wait=true", "--timeout=120s"]);
  for (const ns of workloadNamespaces) {
    await waitFor(`the pods of ${ns} to be gone`, 120_000, async () => ((await kubectlOk(["get", "pods", "-n", ns, "-o", "name"])).trim() === "" ? true : undefined));
  }
  await deleteSpiderResources();
  await kubectlOk(["delete", "-k", path.join(repoRoot, "manifests"), "--ignore-not-found", "--wait=true", "--timeout=180s"]);
  await kubectl(["delete", "namespace", CONTROLLER_NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=120s"]);
  await run("rm", ["-f", "/opt/cni/bin/pinpool"]);
  return Date.now() - started;
}
