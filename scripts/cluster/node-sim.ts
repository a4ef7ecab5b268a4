/**
 * A simulated node for the local cluster: test equipment that does what a kubelet does on
 * the points that matter to IPAM. It registers a Node, binds the pods the real
 * kube-controller-manager creates, makes a network namespace per pod and runs the real
 * Debian `bridge` plugin with `"ipam": {"type": "pinpool"}` (same environment variables,
 * same network config, same order as the kubelet: ADD when the sandbox starts, DEL when
 * the pod goes), then writes the pod's status (Running, podIP).
 *
 * The bridge's host side lives in a network namespace of its own (`pinpool-<node>`), so the
 * machine's real network is never touched.
 */
import { randomUUID } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { compareAndSwap } from "../../src/k8s/cas.js";
import { isConflict, isNotFound } from "../../src/k8s/errors.js";
import { KeyedMutex } from "../../src/k8s/keyed-mutex.js";
import { type KubectlResult, runProcess } from "./local.js";

export interface NodeSimOptions {
  node: string;
  /** Folders holding the CNI plugins: Debian's (bridge) and pinpool's. */
  cniPath: string[];
  agentSocket: string;
  /** Pod sandboxes set up at once (a kubelet works on many pods in parallel). */
  parallel?: number;
  /**
   * Bind only pods labelled `pinpool.io/test-node: <node>` (a second node in a test); a node
   * without it binds every unbound pod (of schedulerName SIM_SCHEDULER) except those pinned to another node.
   */
  pinnedOnly?: boolean;
  /** The IPAM section of the network config (default: pinpool on `agentSocket`); bench:cni runs host-local beside it. */
  ipam?: Record<string, unknown>;
}

/** A pod label that makes the simulators bind the pod to one node. */
export const TEST_NODE_LABEL = "pinpool.io/test-node";

/**
 * The simulators bind only pods with this `spec.schedulerName`: kube-scheduler (running
 * beside the real node) leaves them alone, and the real node never gets a simulated pod.
 */
export const SIM_SCHEDULER = "pinpool-node-sim";

interface Sandbox {
  containerID: string;
  netns: string;
  namespace: string;
  name: string;
  uid: string;
}

/** Runs `command` inside network namespace `netns` with `env` and `stdin`. */
export function inNetns(netns: string, command: string[], env: Record<string, string> = {}, stdin = ""): Promise<KubectlResult> {
  return runProcess("ip", ["netns", "exec", netns, ...command], { env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", ...env }, stdin });
}

async function ip(...args: string[]): Promise<void> {
  const r = await runProcess("ip", args);
  if (r.code !== 0 && !/File exists|No such file/.test(r.stderr)) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
}

export class NodeSimulator {
  readonly hostNetns: string;
  private readonly core: k8s.CoreV1Api;
  private readonly sandboxes = new Map<string, Sandbox>();
  private readonly perPod = new KeyedMutex();
  private informer?: k8s.Informer<k8s.V1Pod> & k8s.ObjectCache<k8s.V1Pod>;
  private resync?: NodeJS.Timeout;
  private stopped = false;
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /** CNI errors seen, by pod, as a kubelet would report them in events. */
  readonly failures = new Map<string, string>();
  /** Called with each failure, for a log. */
  onFailure?: (pod: string, message: string) => void;

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly o: NodeSimOptions,
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.hostNetns = `pinpool-${o.node}`;
  }

  /** The network config the kubelet would pass (one plugin, bridge, chaining pinpool for IPAM). */
  get netconf(): string {
    return JSON.stringify({
      cniVersion: "1.0.0",
      name: "pinpool-e2e",
      type: "bridge",
      bridge: "pp0",
      isGateway: false,
      ipMasq: false,
      ipam: this.o.ipam ?? { type: "pinpool", socket: this.o.agentSocket },
    });
  }

  async start(): Promise<void> {
    await ip("netns", "add", this.hostNetns);
    await this.registerNode();
    this.informer = k8s.makeInformer(this.kc, "/api/v1/pods", () => this.core.listPodForAllNamespaces());
    const onPod = (pod: k8s.V1Pod): void => void this.handle(pod);
    this.informer.on("add", onPod);
    this.informer.on("update", onPod);
    // A pod deleted at once (grace period 0) only shows up as gone: tear its sandbox down,
    // as a kubelet does for a pod it still runs.
    this.informer.on("delete", (pod) => void this.handle(pod, true));
    // A watch that fails is started again; one that was stopped on purpose is not.
    this.informer.on("error", () => {
      if (!this.stopped) setTimeout(() => void this.informer?.start().catch(() => undefined), 1000);
    });
    await this.informer.start();
    // A kubelet's periodic sync: a watch event lost under load (a watch that timed out
    // while the API server was busy) would otherwise leave a pod without a sandbox forever.
    // handle() is idempotent, so going over every cached pod is safe.
    this.resync = setInterval(() => {
      for (const pod of this.informer?.list() ?? []) void this.handle(pod);
    }, 10_000);
  }

  /**
   * Stops watching and removes every sandbox's namespace *without* CNI DEL: a clean stop of
   * the test run, and also what a node that dies looks like to pinpool.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resync);
    await this.informer?.stop();
    for (const s of this.sandboxes.values()) await ip("netns", "del", s.netns);
    this.sandboxes.clear();
    await ip("netns", "del", this.hostNetns);
  }

  /** The sandbox network namespace of a running pod (for ping tests). */
  netnsOf(uid: string): string | undefined {
    return this.sandboxes.get(uid)?.netns;
  }

  private async registerNode(): Promise<void> {
    const body: k8s.V1Node = { metadata: { name: this.o.node, labels: { "kubernetes.io/hostname": this.o.node, "pinpool.io/simulated": "true" } } };
    try {
      await this.core.createNode({ body });
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
    const node = await this.core.readNode({ name: this.o.node });
    node.status = {
      capacity: { cpu: "64", memory: "256Gi", pods: "2000" },
      allocatable: { cpu: "64", memory: "256Gi", pods: "2000" },
      addresses: [{ type: "InternalIP", address: "127.0.0.1" }],
      conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", message: "simulated by pinpool's node simulator", lastHeartbeatTime: new Date(), lastTransitionTime: new Date() }],
    };
    await this.core.replaceNodeStatus({ name: this.o.node, body: node });
  }

  private async slot<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= (this.o.parallel ?? 20)) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    try {
      return await work();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  private handle(pod: k8s.V1Pod, gone = false): Promise<void> {
    const uid = pod.metadata?.uid ?? "";
    return this.perPod
      .run(uid, async () => {
        if (gone || pod.metadata?.deletionTimestamp) {
          if (pod.spec?.nodeName === this.o.node) await this.slot(() => this.teardown(pod, gone));
        } else if (!pod.spec?.nodeName && pod.spec?.schedulerName === SIM_SCHEDULER) {
          const pinned = pod.metadata?.labels?.[TEST_NODE_LABEL];
          if (pinned ? pinned === this.o.node : !this.o.pinnedOnly) await this.bind(pod);
        } else if (pod.spec?.nodeName === this.o.node && !this.sandboxes.has(uid) && pod.status?.phase === "Pending") {
          await this.slot(() => this.setup(pod));
        }
      })
      .catch((e: unknown) => {
        const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
        this.failures.set(key, (e as Error).message);
        this.onFailure?.(key, (e as Error).message);
      });
  }

  private async bind(pod: k8s.V1Pod): Promise<void> {
    const { name, namespace } = pod.metadata as { name: string; namespace: string };
    try {
      await this.core.createNamespacedPodBinding({
        name,
        namespace,
        body: { apiVersion: "v1", kind: "Binding", metadata: { name }, target: { apiVersion: "v1", kind: "Node", name: this.o.node } },
      });
    } catch (e) {
      if (!isConflict(e) && !isNotFound(e)) throw e; // already bound, or gone
    }
  }

  private cniEnv(command: string, s: Sandbox): Record<string, string> {
    return {
      CNI_COMMAND: command,
      CNI_CONTAINERID: s.containerID,
      CNI_NETNS: `/var/run/netns/${s.netns}`,
      CNI_IFNAME: "eth0",
      // The kubelet's CNI_ARGS, in its order.
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${s.namespace};K8S_POD_NAME=${s.name};K8S_POD_INFRA_CONTAINER_ID=${s.containerID};K8S_POD_UID=${s.uid}`,
      CNI_PATH: this.o.cniPath.join(":"),
    };
  }

  private async setup(pod: k8s.V1Pod): Promise<void> {
    const { name, namespace, uid } = pod.metadata as { name: string; namespace: string; uid: string };
    const s: Sandbox = { containerID: randomUUID().replace(/-/g, ""), netns: `pp-${uid.slice(0, 13)}`, namespace, name, uid };
    await ip("netns", "add", s.netns);
    const add = await inNetns(this.hostNetns, ["/usr/lib/cni/bridge"], this.cniEnv("ADD", s), this.netconf);
    if (add.code !== 0) {
      await ip("netns", "del", s.netns);
      throw new Error(`CNI ADD failed: ${add.stdout.trim() || add.stderr.trim()}`);
    }
    this.sandboxes.set(uid, s);
    this.failures.delete(`${namespace}/${name}`);
    const result = JSON.parse(add.stdout) as { ips: Array<{ address: string }> };
    const podIPs = result.ips.map((i) => ({ ip: i.address.split("/")[0] as string }));
    await compareAndSwap(`pod ${namespace}/${name} status`, async () => {
      const current = await this.core.readNamespacedPod({ name, namespace });
      const now = new Date();
      current.status = {
        ...current.status,
        phase: "Running",
        hostIP: "127.0.0.1",
        podIP: podIPs[0]?.ip,
        podIPs,
        startTime: now,
        conditions: ["PodScheduled", "Initialized", "ContainersReady", "Ready"].map((type) => ({ type, status: "True", lastTransitionTime: now })),
        containerStatuses: (current.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? "", imageID: "", ready: true, started: true, restartCount: 0, state: { running: { startedAt: now } } })),
      };
      await this.core.replaceNamespacedPodStatus({ name, namespace, body: current });
    });
  }

  private async teardown(pod: k8s.V1Pod, gone: boolean): Promise<void> {
    const { name, namespace, uid } = pod.metadata as { name: string; namespace: string; uid: string };
    const s = this.sandboxes.get(uid);
    if (s) {
      const del = await inNetns(this.hostNetns, ["/usr/lib/cni/bridge"], this.cniEnv("DEL", s), this.netconf);
      if (del.code !== 0) throw new Error(`CNI DEL failed: ${del.stdout.trim() || del.stderr.trim()}`);
      await ip("netns", "del", s.netns);
      this.sandboxes.delete(uid);
    }
    if (gone) return;
    // What a kubelet does once the containers are gone: finish the graceful deletion. The
    // grace period goes in the body: with a body, the API server ignores the query's.
    try {
      await this.core.deleteNamespacedPod({ name, namespace, body: { gracePeriodSeconds: 0, preconditions: { uid } } });
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e;
    }
  }
}
