/**
 * SpiderSubnet / SpiderIPPool / SpiderReservedIP defaulting, pure: spec.ipVersion is
 * inferred from spec.subnet (or the first address) when left out, as Spiderpool's webhook
 * does, so `kubectl get` shows the VERSION column. A malformed CIDR is left for the
 * validating webhook to refuse with its message.
 */
import jsonPatch, { type Operation } from "fast-json-patch";
import { parseAddress } from "../ip/address.js";
import { parseCidr } from "../ip/cidr.js";
import type { AdmissionRequest } from "./admission.js";

interface WithSpec {
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
  if (!object.spec || object.spec.ipVersion !== undefined) return [];
  const family = inferFamily(object.spec);
  if (!family) return [];
  const mutated = structuredClone(object);
  (mutated.spec as NonNullable<WithSpec["spec"]>).ipVersion = family;
  return jsonPatch.compare(object, mutated);
}
