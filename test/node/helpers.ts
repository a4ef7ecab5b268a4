/** What the real-node suites read of their pods and pools. */
import { LABEL } from "../../src/api/labels.js";
import { kubectlOk, waitFor } from "../../scripts/cluster/local.js";
import { pool } from "../e2e/helpers.js";
import { cluster } from "../integration/setup.js";

export interface NodePod {
  name: string;
  uid: string;
  /** The first address (status.podIP). */
  ip: string;
  /** Every address, one per family (status.podIPs). */
  ips: string[];
  restarts: number;
}

/** The Running, ready pods of `selector` in `namespace`, once there are exactly `count` (none terminating). */
export async function readyPods(namespace: string, selector: string, count: number, timeoutMs = 120_000): Promise<NodePod[]> {
  return waitFor(`${count} ready pods ${selector} in ${namespace}`, timeoutMs, async () => {
    const list = await cluster().core.listNamespacedPod({ namespace, labelSelector: selector });
    if (list.items.some((p) => p.metadata?.deletionTimestamp)) return undefined;
    const ready = list.items.filter((p) => p.status?.phase === "Running" && p.status.podIP && p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
    if (ready.length !== count || list.items.length !== count) return undefined;
    return ready
      .map((p) => ({ name: p.metadata?.name as string, uid: p.metadata?.uid as string, ip: p.status?.podIP as string, ips: (p.status?.podIPs ?? []).map((a) => a.ip), restarts: p.status?.containerStatuses?.[0]?.restartCount ?? 0 }))
      .sort((a, b) => a.name.localeCompare(b.name));
  });
}

/** Which address each holder has in `name`, as the pool's own record says. */
export async function holdings(name: string): Promise<unknown> {
  return (await pool(name)).status?.allocations;
}

export async function autoPoolOf(namespace: string, workload: string): Promise<string> {
  return waitFor(`the auto pool of ${namespace}/${workload}`, 30_000, async () => {
    const selector = `${LABEL.ownerNamespace}=${namespace},${LABEL.ownerName}=${workload}`;
    const names = (await kubectlOk(["get", "sp", "-l", selector, "-o", "jsonpath={.items[*].metadata.name}"])).trim().split(/\s+/).filter(Boolean);
    return names.length === 1 ? names[0] : undefined;
  });
}

