/** What the e2e tests share: waiting for running pods, reading pools, the workloads they apply. */
import { GROUP, PLURAL, type SpiderIPPool, VERSION } from "../../src/api/types.js";
import { parseAddress } from "../../src/ip/address.js";
import { parseIPList } from "../../src/ip/ip-list.js";
import { waitFor } from "../../scripts/cluster/local.js";
import { type NodeSimulator, SIM_SCHEDULER } from "../../scripts/cluster/node-sim.js";
import { cluster } from "../integration/setup.js";
import { nodeStack } from "./stack.js";

export interface RunningPod {
  name: string;
  uid: string;
  ip: string;
}

export async function runningPods(namespace: string, selector: string, count: number, exclude: string[] = [], node?: NodeSimulator): Promise<RunningPod[]> {
  const sim = node ?? (await nodeStack()).sim;
  // Only this namespace's failures count: other tests' pods (an exhausted pool, say) fail on purpose.
  const failures = [...sim.failures].filter(([pod]) => pod.startsWith(`${namespace}/`));
  return waitFor(`${count} running pods ${selector} in ${namespace} (CNI failures: see cause)`, 60_000, async () => {
    const mine = [...sim.failures].filter(([pod]) => pod.startsWith(`${namespace}/`));
    if (mine.length > failures.length) throw new Error(`sandbox failures in ${namespace}: ${JSON.stringify(mine)}`);
    const list = await cluster().core.listNamespacedPod({ namespace, labelSelector: selector });
    const pods = list.items
      .filter((p) => p.status?.phase === "Running" && p.status.podIP && !p.metadata?.deletionTimestamp && !exclude.includes(p.metadata?.uid ?? ""))
      .map((p) => ({ name: p.metadata?.name as string, uid: p.metadata?.uid as string, ip: p.status?.podIP as string }));
    return pods.length === count ? pods.sort((a, b) => a.name.localeCompare(b.name)) : undefined;
  });
}

export async function pool(name: string): Promise<SpiderIPPool> {
  return (await cluster().custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool, name })) as SpiderIPPool;
}

/** Whether `ip` is one of pool `name`'s addresses; an address of the other family never is. */
export async function poolHolds(name: string, ip: string): Promise<boolean> {
  const address = parseAddress(ip);
  const p = await pool(name);
  const family = p.spec.ipVersion ?? (p.spec.subnet.includes(":") ? 6 : 4);
  return family === address.family && parseIPList(address.family, p.spec.ips, "spec.ips").contains(address.value);
}

export async function allocatedCount(name: string, expected: number): Promise<number> {
  return waitFor(`pool ${name} to count ${expected} allocated`, 30_000, async () => {
    const n = (await pool(name)).status?.allocatedIPCount ?? 0;
    return n === expected ? n : undefined;
  });
}

export const subnetYaml = (name: string, cidr: string, ips: string): string =>
  `{"apiVersion":"${GROUP}/${VERSION}","kind":"SpiderSubnet","metadata":{"name":"${name}"},"spec":{"subnet":"${cidr}","ips":["${ips}"]}}`;

export const workloadYaml = (kind: "Deployment" | "StatefulSet", name: string, replicas: number, annotations: Record<string, string>, app = name): string => `apiVersion: apps/v1
kind: ${kind}
metadata: { name: ${name} }
spec:
  replicas: ${replicas}
  ${kind === "StatefulSet" ? `serviceName: ${name}` : ""}
  selector: { matchLabels: { app: ${app} } }
  template:
    metadata:
      annotations: ${JSON.stringify(annotations)}
      labels: { app: ${app} }
    spec: { schedulerName: ${SIM_SCHEDULER}, containers: [{ name: nginx, image: nginx }] }
`;
