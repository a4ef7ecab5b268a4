/**
 * What the agent needs to know about a pod, pure: who holds its addresses (a StatefulSet's
 * ordinal, or the pod itself), and the way to its workload as the API server records it,
 * for the pools that ask (src/api/pool-affinity.ts). Never from the pod's labels: a pod
 * writes its own labels, so `ipam.spidernet.io/app-*` or `pod-template-hash` prove nothing.
 */
import type * as k8s from "@kubernetes/client-node";
import { holderKey, statefulSetMember } from "../api/holders.js";
import type { Workload } from "../api/pool-affinity.js";

export interface PodFacts {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  /** `namespace/statefulset/ordinal` for a StatefulSet pod, else `namespace/pod`. */
  holder: string;
  statefulSet?: { name: string; ordinal: number };
  /** The pod's labels, as it wrote them. */
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The pod's controller ownerReference, as the API server stores it. */
  controller?: k8s.V1OwnerReference;
}

export function podFacts(pod: k8s.V1Pod, node: string): PodFacts {
  const namespace = pod.metadata?.namespace ?? "default";
  const name = pod.metadata?.name ?? "";
  const controller = pod.metadata?.ownerReferences?.find((o) => o.controller);
  // A misnamed pod is a plain pod, never another's ordinal.
  const statefulSet = controller?.kind === "StatefulSet" ? statefulSetMember(controller.name, name) : undefined;
  return {
    namespace,
    name,
    uid: pod.metadata?.uid ?? "",
    node,
    holder: holderKey(namespace, name, statefulSet),
    ...(statefulSet ? { statefulSet } : {}),
    labels: { ...pod.metadata?.labels },
    annotations: { ...pod.metadata?.annotations },
    ...(controller ? { controller } : {}),
  };
}

/**
 * `facts` of a pod that is none of the ordinals of the StatefulSet its ownerReference
 * names: the set the API server has is another (or none). Held as a plain pod, so it never
 * takes, or releases, an ordinal's address on the strength of what it claims.
 */
export function asPlainPod(facts: PodFacts): PodFacts {
  const plain = { ...facts, holder: holderKey(facts.namespace, facts.name) };
  delete plain.statefulSet;
  return plain;
}

const asWorkload = (o: k8s.V1OwnerReference): Workload => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.name, uid: o.uid });

/**
 * The way to a pod's workload: known from its controller reference (a StatefulSet, a
 * DaemonSet, a Job, …; none: a bare pod), or through its ReplicaSet, which must be read:
 * the Deployment is the ReplicaSet's controller, recorded on the ReplicaSet.
 */
export type WorkloadStep = { workload: Workload | null } | { replicaSet: { name: string; uid: string } };

export function workloadStep(controller: k8s.V1OwnerReference | undefined): WorkloadStep {
  if (!controller) return { workload: null };
  if (controller.apiVersion === "apps/v1" && controller.kind === "ReplicaSet") return { replicaSet: { name: controller.name, uid: controller.uid } };
  // No Kubernetes controller makes a Deployment a pod's own controller: such a reference was
  // written by whoever created the pod, and names no workload.
  if (controller.kind === "Deployment") return { workload: null };
  return { workload: asWorkload(controller) };
}

/**
 * The workload of a pod whose controller is ReplicaSet `ref`, from that ReplicaSet as read
 * (undefined: not found): its controller (a Deployment), else the ReplicaSet itself.
 */
export function replicaSetWorkload(rs: k8s.V1ReplicaSet | undefined, ref: { name: string; uid: string }): Workload | null {
  // Gone, or a namesake made since: the pod's own ReplicaSet no longer exists, so the pod is a bare pod.
  if (!rs || rs.metadata?.uid !== ref.uid) return null;
  const controller = rs.metadata.ownerReferences?.find((o) => o.controller);
  return controller ? asWorkload(controller) : { apiVersion: "apps/v1", kind: "ReplicaSet", name: ref.name, uid: ref.uid };
}
