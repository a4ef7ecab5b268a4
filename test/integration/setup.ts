/** Root hooks: one real control plane per run (started here, or reused when running). */
import * as k8s from "@kubernetes/client-node";
import { CONTROLLER_NAMESPACE, type LocalController, type LocalControllerOptions, startLocalController, unregisterWebhooks } from "../../scripts/cluster/controller.js";
import { REAL_NODE } from "../../scripts/cluster/install.js";
import { ensureCluster, kubeConfig, kubectl, wipeSpiderObjects } from "../../scripts/cluster/local.js";

export interface ClusterContext {
  kubeconfigPath: string;
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  custom: k8s.CustomObjectsApi;
}

let context: ClusterContext | undefined;
let controller: Promise<LocalController> | undefined;

/** pinpool-controller with its webhooks registered; started on first use, stopped after the run. */
export function pinpoolController(): Promise<LocalController> {
  controller ??= startLocalController(cluster().kubeconfigPath);
  return controller;
}

/**
 * Stops the shared controller and starts it again with `options` (a webhook-only replica,
 * say); `replaceController()` puts the usual one back.
 */
export async function replaceController(options: LocalControllerOptions = {}): Promise<LocalController> {
  const current = controller;
  controller = undefined;
  if (current) await (await current).stop();
  controller = startLocalController(cluster().kubeconfigPath, options);
  return controller;
}

export function cluster(): ClusterContext {
  if (!context) throw new Error("the cluster root hook has not run; run integration tests through their .mocharc.json");
  return context;
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(30 * 60_000); // a cold control-plane build happens here when the cache is empty
    const kubeconfigPath = await ensureCluster();
    // The demo's workloads (namespace default) would have their pools reserved again by the
    // sweep after the wipe below, taking the addresses the tests expect.
    await kubectl(["delete", "deployments,statefulsets", "--all", "-n", "default", "--wait=true"]);
    // An install the demo or the real-node tests left would fight this run's controller for the Lease.
    await kubectl(["delete", "deployment/pinpool-controller", "daemonset/pinpool-agent", "-n", CONTROLLER_NAMESPACE, "--ignore-not-found", "--wait=true"]);
    await unregisterWebhooks(); // left behind by a run that did not finish
    // The tests' workloads need no running pods (the e2e tests bring their own nodes): keep
    // the real node, when there is one, out of the scheduler's choices.
    await kubectl(["cordon", REAL_NODE]);
    // Cluster-scoped objects outlive namespaces: start every run from none (the local
    // cluster is the tests' own; with the webhooks gone these deletes are not checked).
    const kc = kubeConfig(kubeconfigPath);
    await wipeSpiderObjects(kc.makeApiClient(k8s.CustomObjectsApi));
    await kubectl(["delete", "configmap", "-n", CONTROLLER_NAMESPACE, "pinpool-ledger", "--ignore-not-found"]);
    context = {
      kubeconfigPath,
      kc,
      core: kc.makeApiClient(k8s.CoreV1Api),
      apps: kc.makeApiClient(k8s.AppsV1Api),
      custom: kc.makeApiClient(k8s.CustomObjectsApi),
    };
  },
  async afterAll(): Promise<void> {
    if (controller) await (await controller).stop();
  },
};
