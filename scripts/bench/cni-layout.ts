/**
 * Spiderpool's benchmark layout for bench:cni: 100 Deployments × 10 replicas = 1,000 pods
 * through the real kube-controller-manager and the node simulator (real bridge plugin,
 * network namespaces), with whichever IPAM the network config names. Measures the time
 * from the first create until every pod has an address, and the CPU the given processes
 * spent meanwhile (/proc/<pid>/stat utime + stime).
 */
import { readFileSync } from "node:fs";
import type * as k8s from "@kubernetes/client-node";
import { createNamespace, waitFor } from "../cluster/local.js";
import { NodeSimulator, SIM_SCHEDULER } from "../cluster/node-sim.js";

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

export interface LayoutOptions {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  node: string;
  cniPath: string[];
  agentSocket: string;
  /** The network config's ipam section (default: pinpool). */
  ipam?: Record<string, unknown>;
  /** Pod-template annotations (pinpool's subnet annotation). */
  annotations?: Record<string, string>;
  /** Processes whose CPU time is counted. */
  pids?: number[];
  /** Called with the result while the pods (and their addresses) still exist. */
  check?: (r: LayoutResult) => Promise<void>;
}

export interface LayoutResult {
  seconds: number;
  admittedSeconds: number;
  cpuSeconds: number;
  sandboxFailures: number;
  /** Every pod with its address, as listed when all had one. */
  pods: k8s.V1Pod[];
  namespace: string;
}

export async function layout(o: LayoutOptions): Promise<LayoutResult> {
  const sim = new NodeSimulator(o.kc, { node: o.node, cniPath: o.cniPath, agentSocket: o.agentSocket, parallel: 20, ...(o.ipam ? { ipam: o.ipam } : {}) });
  await sim.start();
  const namespace = await createNamespace(o.core, "bench1000");
  const cpu = (): number => (o.pids ?? []).reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  try {
    const cpuBefore = cpu();
    const t = Date.now();
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => {
          const name = `d${batch * 10 + i}`;
          return o.apps.createNamespacedDeployment({
            namespace,
            body: {
              metadata: { name },
              spec: {
                replicas: 10,
                selector: { matchLabels: { app: name } },
                template: { metadata: { labels: { app: name }, ...(o.annotations ? { annotations: o.annotations } : {}) }, spec: { schedulerName: SIM_SCHEDULER, containers: [{ name: "c", image: "nginx" }] } },
              },
            },
          });
        }),
      );
    }
    const admittedSeconds = (Date.now() - t) / 1000;
    let last = 0;
    const pods = await waitFor("1,000 pods with addresses", 900_000, async () => {
      const list = await o.core.listNamespacedPod({ namespace });
      const withIP = list.items.filter((p) => p.status?.podIP);
      if (withIP.length >= last + 250) {
        console.log(`    ${withIP.length} pods with addresses after ${((Date.now() - t) / 1000).toFixed(0)} s`);
        last = withIP.length;
      }
      return withIP.length >= 1000 ? withIP : undefined;
    });
    const seconds = (Date.now() - t) / 1000;
    const result = { seconds, admittedSeconds, cpuSeconds: cpu() - cpuBefore, sandboxFailures: sim.failures.size, pods, namespace };
    await o.check?.(result);
    return result;
  } finally {
    await o.core.deleteNamespace({ name: namespace });
    await waitFor("the 1,000 pods to go", 600_000, async () => ((await o.core.listNamespacedPod({ namespace })).items.length === 0 ? true : undefined)).catch((e: unknown) =>
      console.log(`    (teardown: ${(e as Error).message})`),
    );
    await sim.stop();
  }
}
