/** SpiderReservedIP admission, pure: a valid family and valid entries (Spiderpool checks no overlaps here). */
import type { SpiderReservedIP } from "../api/types.js";
import { AddressError } from "../ip/address.js";
import { parseIPList } from "../ip/ip-list.js";
import { reservedIPFamily } from "../reservation/reserved-ips.js";
import type { AdmissionRequest } from "./admission.js";
import { type Verdict, allow, deny } from "../api/verdict.js";

export function decideReservedIP(req: AdmissionRequest): Verdict {
  if (req.operation === "DELETE") return allow();
  const r = req.object as unknown as SpiderReservedIP;
  const subject = `SpiderReservedIP "${r.metadata?.name ?? r.metadata?.generateName ?? ""}"`;
  const family = reservedIPFamily(r);
  if (req.operation === "UPDATE") {
    const old = (req.oldObject as unknown as SpiderReservedIP).spec?.ipVersion;
    if (old !== undefined && old !== r.spec?.ipVersion) return deny(`${subject}: spec.ipVersion is immutable (${old} → ${String(r.spec?.ipVersion)})`);
  }
  try {
    parseIPList(family, r.spec?.ips, "spec.ips");
  } catch (e) {
    if (e instanceof AddressError) return deny(`${subject}: ${e.message}`);
    throw e;
  }
  return allow();
}
