import * as k8s from "@kubernetes/client-node";

/** A KubeConfig from $KUBECONFIG when set, else the in-cluster service account. */
export function loadKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (process.env.KUBECONFIG) kc.loadFromFile(process.env.KUBECONFIG);
  else kc.loadFromCluster();
  return kc;
}
