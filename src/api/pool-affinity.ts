/**
 * Whether a SpiderIPPool serves a pod, pure, by the pool's restrictions as Spiderpool
 * filters them (selectByPod): `spec.nodeName` (when set, `spec.nodeAffinity` is not read),
 * `spec.namespaceName` (likewise over `spec.namespaceAffinity`), `spec.podAffinity`, and for
 * an auto pool its owner: it serves only the pods of the workload it was reserved for, in
 * that workload's namespace. The pod's workload is the one the API server records (its
 * controller, a ReplicaSet's Deployment in its place; src/agent/pod.ts), never labels the pod
 * wrote, so a pod in `dev` that writes `ipam.spidernet.io/app-*` labels gets nothing from
 * `prod`'s auto pools. An empty list or selector restricts nothing. A refusal is one
 * sentence naming the pool, the field and what it allows: it reaches the pod's
 * FailedCreatePodSandBox event.
 */
import { OWNER_ANNOTATION, autoPoolOwner, isAutoPool } from "./auto-pool-owner.js";
import { APP_LABEL, LABEL } from "./labels.js";
import { type Labels, selectorKeys, selectorMiss } from "./label-selector.js";
import type { LabelSelector, SpiderIPPool } from "./types.js";
import { nameList } from "./verdict.js";

/** A pod's workload as the API server records it (apiVersion and kind as an ownerReference writes them). */
export interface Workload {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

export interface PoolSubject {
  namespace: string;
  pod: string;
  node: string;
  /** The interface the address is for (CNI_IFNAME). */
  interface: string;
  /** The pod's labels as it wrote them. */
  podLabels: Labels;
  /** Read only when a pool asks for it (missingFacts); undefined: not read. */
  namespaceLabels?: Labels;
  nodeLabels?: Labels;
  /** null: the pod belongs to no workload (no controller, or its ReplicaSet is gone). */
  owner?: Workload | null;
}

/** What a pool may need to know beyond the pod itself: each costs a read (cached) in the agent. */
export type Fact = "namespaceLabels" | "nodeLabels" | "owner";

const APP_KEYS = new Set<string>(Object.values(APP_LABEL));

/** An absent or empty selector restricts nothing. */
const restricts = (selector: LabelSelector | undefined): selector is LabelSelector => !!selector && selectorKeys(selector).length > 0;

/** The facts `pool` needs to decide: none for a pool that restricts nothing, or only by names. */
export function factsNeeded(pool: SpiderIPPool): Fact[] {
  const s = pool.spec;
  const needed: Fact[] = [];
  if (!s.nodeName?.length && restricts(s.nodeAffinity)) needed.push("nodeLabels");
  if (!s.namespaceName?.length && restricts(s.namespaceAffinity)) needed.push("namespaceLabels");
  if (isAutoPool(pool) || (s.podAffinity && selectorKeys(s.podAffinity).some((k) => APP_KEYS.has(k)))) needed.push("owner");
  return needed;
}

/** The facts `pool` needs that `subject` has not looked up yet. */
export function missingFacts(pool: SpiderIPPool, subject: PoolSubject): Fact[] {
  return factsNeeded(pool).filter((f) => subject[f] === undefined);
}

/** Spiderpool's virtual labels for a workload: what an auto pool's podAffinity matches. */
export function workloadLabels(namespace: string, w: Workload | null): Labels {
  if (!w) return {};
  const [group, version] = w.apiVersion.includes("/") ? w.apiVersion.split("/", 2) : ["", w.apiVersion];
  return { [APP_LABEL.group]: group ?? "", [APP_LABEL.version]: version ?? "", [APP_LABEL.kind]: w.kind, [APP_LABEL.namespace]: namespace, [APP_LABEL.name]: w.name };
}

function looked<T>(value: T | undefined, fact: Fact): T {
  if (value === undefined) throw new Error(`poolServes: ${fact} was not looked up (ask missingFacts first)`);
  return value;
}

/** Why `selector` (the pool's `field`) does not select `labels` of `whose`, or undefined. */
function selectorRefusal(field: string, selector: LabelSelector, labels: Labels, whose: string): string | undefined {
  const miss = selectorMiss(selector, labels);
  if (!miss) return undefined;
  return "invalid" in miss ? `${field}.${miss.invalid}, so it selects nothing` : `${field} requires ${miss.requirement}, and ${whose} has ${miss.found}`;
}

/** Why auto pool `pool` does not serve the subject's pod (not its owner's), or undefined. */
function ownerRefusal(pool: SpiderIPPool, s: PoolSubject): string | undefined {
  const owner = looked(s.owner, "owner");
  const recorded = autoPoolOwner(pool);
  if (!recorded) return `it is an auto pool (annotation ${OWNER_ANNOTATION} or label ${LABEL.ownerName}) of no Deployment or StatefulSet pinpool can read, so it serves no pod`;
  // Spiderpool records the owner's UID; pinpool keys its pools by name (there is no UID at
  // admission), and a workload re-created under the same name keeps its pool.
  const uid = pool.metadata.labels?.[LABEL.ownerUID];
  const same = !!owner && owner.apiVersion === "apps/v1" && owner.kind === recorded.kind && owner.name === recorded.name && s.namespace === recorded.namespace && (!uid || owner.uid === uid);
  if (same) return undefined;
  const reserved = `it is the auto pool of ${recorded.kind} ${recorded.namespace}/${recorded.name}${uid ? ` (UID ${uid})` : ""}`;
  const belongs = owner ? `${owner.kind} ${s.namespace}/${owner.name}${uid ? ` (UID ${owner.uid})` : ""}` : "no workload (it has no controller, or its ReplicaSet is gone)";
  return `${reserved}, and the pod belongs to ${belongs}`;
}

/** The labels a pool's podAffinity sees: the pod's own, with the app-* keys only from its recorded workload. */
function podAffinityLabels(pool: SpiderIPPool, s: PoolSubject): Labels {
  // An auto pool matches its workload only, as Spiderpool's IsMatchAutoPoolAffinity does.
  if (isAutoPool(pool)) return workloadLabels(s.namespace, looked(s.owner, "owner"));
  const own = Object.fromEntries(Object.entries(s.podLabels).filter(([k]) => !APP_KEYS.has(k)));
  return s.owner ? { ...own, ...workloadLabels(s.namespace, s.owner) } : own;
}

/**
 * Undefined when `pool` serves the subject's pod, else why not, e.g. `SpiderIPPool "rack-a"
 * does not serve node "node1": spec.nodeName is ["node2"]`. Call with the facts
 * missingFacts names looked up (it throws otherwise).
 */
export function poolServes(pool: SpiderIPPool, s: PoolSubject): string | undefined {
  const spec = pool.spec;
  const refuse = (whom: string, why: string): string => `SpiderIPPool "${pool.metadata.name}" does not serve ${whom}: ${why}`;
  const node = `node "${s.node}"`;
  if (spec.nodeName?.length) {
    if (!spec.nodeName.includes(s.node)) return refuse(node, `spec.nodeName is [${nameList(spec.nodeName)}]`);
  } else if (restricts(spec.nodeAffinity)) {
    const why = selectorRefusal("spec.nodeAffinity", spec.nodeAffinity, looked(s.nodeLabels, "nodeLabels"), "the node");
    if (why) return refuse(node, why);
  }
  const namespace = `namespace "${s.namespace}"`;
  if (spec.namespaceName?.length) {
    if (!spec.namespaceName.includes(s.namespace)) return refuse(namespace, `spec.namespaceName is [${nameList(spec.namespaceName)}]`);
  } else if (restricts(spec.namespaceAffinity)) {
    const why = selectorRefusal("spec.namespaceAffinity", spec.namespaceAffinity, looked(s.namespaceLabels, "namespaceLabels"), "the namespace");
    if (why) return refuse(namespace, why);
  }
  const pod = `pod ${s.namespace}/${s.pod}`;
  const notOwners = isAutoPool(pool) ? ownerRefusal(pool, s) : undefined;
  if (notOwners) return refuse(pod, notOwners);
  if (restricts(spec.podAffinity)) {
    const why = selectorRefusal("spec.podAffinity", spec.podAffinity, podAffinityLabels(pool, s), "the pod");
    if (why) return refuse(pod, why);
  }
  // Without Multus, pinpool cannot tell which NetworkAttachmentDefinition an interface comes
  // from; a pool kept for some is kept from every interface rather than handed to any.
  if (spec.multusName?.length) {
    return refuse(`interface "${s.interface}"`, `spec.multusName is [${nameList(spec.multusName)}], and pinpool cannot tell which NetworkAttachmentDefinition an interface comes from; leave spec.multusName out to use this pool`);
  }
  return undefined;
}
