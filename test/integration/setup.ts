/** Root hooks: one real control plane per run (started here, or reused when running). */
import * as k8s from "@kubernetes/client-node";
import { ensureCluster, kubeConfig } from "../../scripts/cluster/local.js";

export interface ClusterContext {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  custom: k8s.CustomObjectsApi;
}

let context: ClusterContext | undefined;

export function cluster(): ClusterContext {
  if (!context) throw new Error("the cluster root hook has not run; run integration tests through their .mocharc.json");
  return context;
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(30 * 60_000); // a cold control-plane build happens here when the cache is empty
    const kc = kubeConfig(await ensureCluster());
    context = {
      kc,
      core: kc.makeApiClient(k8s.CoreV1Api),
      apps: kc.makeApiClient(k8s.AppsV1Api),
      custom: kc.makeApiClient(k8s.CustomObjectsApi),
    };
  },
};
