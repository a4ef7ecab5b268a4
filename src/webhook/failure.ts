/**
 * What the webhook answers when it could not decide (the API server failed, not the user):
 * what it was doing, in words a user reads, and the verdict for such a failure.
 */
import { type Verdict, allow } from "../api/verdict.js";
import { describeError } from "../k8s/transient.js";
import type { AdmissionRequest } from "./admission.js";

/** What deciding `req` means, for the first half of a failure sentence: `reserving addresses for deployment t/nginx`. */
export function reviewPurpose(req: AdmissionRequest): string {
  const name = req.name || "(a generated name)";
  if (req.resource.group === "apps") {
    const workload = `${req.resource.resource.replace(/s$/, "")} ${req.namespace ?? ""}/${name}`;
    return req.subResource === "scale" ? `resizing the address pool of ${workload}` : `reserving addresses for ${workload}`;
  }
  const verb = req.operation === "DELETE" ? "checking the deletion of" : "checking";
  return `${verb} ${req.kind.kind} "${name}"`;
}

/** The API server shows at most 256 characters of a warning; keep the end of the sentence inside that. */
const WARNING_MAX = 250;

/**
 * A failure's verdict. A /scale is allowed with a warning: the controller's resize sweep
 * repairs a missed scale within one sweep, and an in-band denial would bypass the
 * failurePolicy Ignore of scale.pinpool.io (manifests/webhooks/mutating.yaml). Everything
 * else is denied with 500 and the one-sentence cause (never client-node's dump of headers).
 */
export function failureVerdict(req: AdmissionRequest, e: unknown): Verdict {
  const why = describeError(e);
  if (req.subResource === "scale") {
    const warning = `pinpool could not resize the pool now, pinpool-controller will within one sweep: ${why}`;
    return allow(undefined, [warning.length > WARNING_MAX ? `${warning.slice(0, WARNING_MAX - 1)}…` : warning]);
  }
  return { allowed: false, code: 500, reason: "InternalError", message: `pinpool could not decide: ${why}` };
}
