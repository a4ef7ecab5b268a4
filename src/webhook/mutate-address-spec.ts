/**
 * SpiderSubnet / SpiderIPPool / SpiderReservedIP defaulting, pure: spec.ipVersion is
 * inferred from spec.subnet (or the first address) when left out, as Spiderpool's webhook
 * does, so `kubectl get` shows the VERSION column. A malformed CIDR is left for the
 * validating webhook to refuse with its message. A new SpiderIPPool or SpiderSubnet gets
 * pinpool's finalizer: deleting it waits until its addresses are unused, and only then does
 * the controller release its claims (src/controller/pool-deletion.ts, subnet-deletion.ts).
 */
import jsonPatch, { type Operation } from "fast-json-patch";
import { parseAddress } from "../ip/address.js";
import { parseCidr } from "../ip/cidr.js";
import { RELEASE_FINALIZER } from "../api/types.js";
import type { AdmissionRequest } from "./admission.js";

interface WithSpec {
  metadata?: { finalizers?: string[]; deletionTimestamp?: string };
  spec?: { ipVersion?: number; subnet?: string; ips?: string[] };
}

function inferFamily(spec: NonNullable<WithSpec["spec"]>): 4 | 6 | undefined {
  try {
    if (spec.subnet !== undefined) return parseCidr(spec.subnet).family;
    const first = spec.ips?.[0]?.split("-")[0];
    return first === undefined ? undefined : parseAddress(first).family;
  } catch {
    return undefined;
  }
}

export function decideAddressSpecDefaults(req: AdmissionRequest): Operation[] {
  if (req.operation !== "CREATE" && req.operation !== "UPDATE") return [];
  const object = req.object as WithSpec;
  // An object being deleted keeps its spec as stored: the controller's finalizer removal must pass unchanged.
  if (object.metadata?.deletionTimestamp) return [];
  const mutated = structuredClone(object);
  const family = object.spec && object.spec.ipVersion === undefined ? inferFamily(object.spec) : undefined;
  if (mutated.spec && family) mutated.spec.ipVersion = family;
  const released = req.resource.resource === "spiderippools" || req.resource.resource === "spidersubnets";
  if (req.operation === "CREATE" && released && !object.metadata?.finalizers?.includes(RELEASE_FINALIZER)) {
    (mutated.metadata ??= {}).finalizers = [...(object.metadata?.finalizers ?? []), RELEASE_FINALIZER];
  }
  return jsonPatch.compare(object, mutated);
}
