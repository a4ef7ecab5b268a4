/**
 * Deployment and StatefulSet admission (and their /scale): reserve the workload's auto
 * pools before any pod exists, and name them in a pod-template annotation.
 */
import type * as k8s from "@kubernetes/client-node";
import jsonPatch, { type Operation } from "fast-json-patch";
import { ANNOTATION, AnnotationError } from "../api/annotations.js";
import type { WorkloadObject, WorkloadRef } from "../api/names.js";
import { type ReservationPlan, planReservation } from "../reservation/plan.js";
import { readWorkload } from "../k8s/resources.js";
import { type ReserveDeps, reserve } from "../reservation/reserve.js";
import type { Provisional } from "../reservation/pending.js";
import type { AdmissionRequest } from "./admission.js";
import { type Verdict, allow, deny } from "../api/verdict.js";

const KINDS: Record<string, WorkloadRef["kind"]> = { deployments: "Deployment", statefulsets: "StatefulSet" };

type Planned = { verdict: Verdict } | { plan: ReservationPlan | undefined; patch: Operation[] };

function planFor(ref: WorkloadRef, w: WorkloadObject, replicas?: number): { verdict: Verdict } | { plan: ReservationPlan | undefined } {
  try {
    const spec = replicas === undefined ? (w.spec ?? {}) : { ...w.spec, replicas };
    return { plan: planReservation(ref, w.spec?.template?.metadata?.annotations, spec) };
  } catch (e) {
    if (e instanceof AnnotationError) return { verdict: deny(`${ref.kind.toLowerCase()} "${ref.name}": ${e.message}`, 422) };
    throw e;
  }
}

/**
 * The pure part of a workload CREATE/UPDATE: its reservation plan and the patch that names
 * the reserved pools on its pod template. `plan` is undefined when nothing must be reserved
 * (no subnet annotation, or an UPDATE that changed nothing the reservation depends on).
 */
export function decideWorkload(req: AdmissionRequest): Planned {
  const kind = KINDS[req.resource.resource];
  if (!kind || req.operation === "DELETE" || req.operation === "CONNECT" || !req.object) return { plan: undefined, patch: [] };
  const object = req.object as WorkloadObject;
  const annotations = object.spec?.template?.metadata?.annotations;
  if (!annotations?.[ANNOTATION.subnet] && !annotations?.[ANNOTATION.subnets]) {
    // The subnet annotations were removed: the pods stop naming the reserved pools (the
    // rollout moves them off; the controller releases the pools once they are unused).
    if (annotations?.[ANNOTATION.reserved] === undefined) return { plan: undefined, patch: [] };
    const mutated = structuredClone(object);
    delete mutated.spec?.template?.metadata?.annotations?.[ANNOTATION.reserved];
    return { plan: undefined, patch: jsonPatch.compare(object, mutated) };
  }
  const name = object.metadata?.name;
  if (!name) {
    return {
      verdict: deny(
        `${kind.toLowerCase()} with generateName "${object.metadata?.generateName ?? ""}": pinpool reserves the pool by the workload's name, which is not known yet; set metadata.name`,
        422,
      ),
    };
  }
  const ref: WorkloadRef = { namespace: req.namespace ?? object.metadata?.namespace ?? "default", kind, name };
  const planned = planFor(ref, object);
  if ("verdict" in planned) return planned;
  const plan = planned.plan;
  if (!plan) return { plan: undefined, patch: [] };
  const mutated = structuredClone(object);
  const template = ((mutated.spec ??= {}).template ??= {});
  (template.metadata ??= {}).annotations = { ...template.metadata.annotations, [ANNOTATION.reserved]: plan.annotation };
  const patch = jsonPatch.compare(object, mutated);
  if (req.operation === "UPDATE" && unchanged(req.oldObject as WorkloadObject, ref, plan)) return { plan: undefined, patch };
  return { plan, patch };
}

/** True when the stored workload already reserved exactly what `plan` asks for. */
function unchanged(old: WorkloadObject, ref: WorkloadRef, plan: ReservationPlan): boolean {
  if (old.spec?.template?.metadata?.annotations?.[ANNOTATION.reserved] !== plan.annotation) return false;
  const before = planFor(ref, old);
  if ("verdict" in before || !before.plan) return false;
  return before.plan.pools.every((p, i) => p.size === plan.pools[i]?.size && p.subnet === plan.pools[i]?.subnet);
}

export interface WorkloadDeps extends ReserveDeps {
  apps: k8s.AppsV1Api;
}

/** `kubectl scale` and autoscalers write /scale, not the workload: resize its pools here. */
async function admitScale(req: AdmissionRequest, deps: WorkloadDeps, provisional?: Provisional): Promise<Verdict> {
  const kind = KINDS[req.resource.resource];
  // A Scale to 0 arrives with spec.replicas left out (the zero value is omitted).
  const replicas = (req.object as { spec?: { replicas?: number } } | null)?.spec?.replicas ?? 0;
  if (!kind || req.operation !== "UPDATE" || !req.name || !req.namespace) return allow();
  const workload = await readWorkload(deps.apps, { kind, namespace: req.namespace, name: req.name });
  const planned = planFor({ namespace: req.namespace, kind, name: req.name }, workload, replicas);
  if ("verdict" in planned) return planned.verdict;
  return planned.plan ? reserve(planned.plan, deps, req.dryRun, { provisional }) : allow();
}

/** `provisional`: how the claims this admission writes are marked and settled (pending.ts). */
export async function admitWorkload(req: AdmissionRequest, deps: WorkloadDeps, provisional?: Provisional): Promise<Verdict> {
  if (req.subResource === "scale") return admitScale(req, deps, provisional);
  const decided = decideWorkload(req);
  if ("verdict" in decided) return decided.verdict;
  if (!decided.plan) return allow(decided.patch);
  const reserved = await reserve(decided.plan, deps, req.dryRun, { provisional });
  return reserved.allowed ? allow(decided.patch, reserved.warnings) : reserved;
}
