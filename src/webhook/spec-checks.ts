/**
 * Spec rules of SpiderSubnet and SpiderIPPool that need no other object (Spiderpool's
 * subnet_validate.go / ippool_validate.go), each failing with the field, the value and
 * what is allowed.
 */
import { type ParsedAddressSpec, parseAddressSpec } from "../api/address-spec.js";
import type { AddressSpec, LabelSelector } from "../api/types.js";
import { AddressError, formatAddress, parseAddressOf } from "../ip/address.js";
import { cidrBounds, formatCidr, parseCidr } from "../ip/cidr.js";

export class SpecError extends Error {
  override name = "SpecError";
}

function checkGateway(parsed: ParsedAddressSpec): void {
  if (parsed.gateway !== undefined && parsed.addresses.contains(parsed.gateway)) {
    const gw = formatAddress(parsed.family, parsed.gateway);
    throw new SpecError(
      `spec.gateway ${gw} is also in spec.ips; a gateway cannot be handed to a pod: add ${gw} to spec.excludeIPs or remove it from spec.ips`,
    );
  }
}

function checkRoutes(spec: AddressSpec, parsed: ParsedAddressSpec): void {
  const seen = new Set<string>();
  const bounds = cidrBounds(parsed.cidr);
  (spec.routes ?? []).forEach((route, i) => {
    const where = `spec.routes[${i}]`;
    const dst = parseCidr(route.dst, `${where}.dst`);
    if (dst.family !== parsed.family) {
      throw new SpecError(`${where}.dst ${route.dst} is IPv${dst.family}, but spec.subnet ${formatCidr(parsed.cidr)} is IPv${parsed.family}`);
    }
    const key = formatCidr(dst);
    if (dst.prefix === 0 && spec.gateway === undefined) {
      throw new SpecError(`${where}.dst ${route.dst} is the default route; set spec.gateway to configure the default route instead`);
    }
    if (seen.has(key)) throw new SpecError(`${where}.dst ${route.dst} repeats an earlier route's dst; each dst once`);
    seen.add(key);
    const gw = parseAddressOf(parsed.family, route.gw, `${where}.gw`);
    if (gw < bounds.start || gw > bounds.end) {
      throw new SpecError(`${where}.gw ${route.gw} is outside spec.subnet ${formatCidr(parsed.cidr)}; a route's gateway must be reachable on the subnet`);
    }
  });
}

/** All rules a subnet's or pool's spec must satisfy on its own. Throws SpecError or AddressError. */
export function checkAddressSpec(spec: AddressSpec | undefined): ParsedAddressSpec {
  if (!spec || typeof spec !== "object") throw new SpecError("spec is missing; expected spec.subnet and spec.ips");
  const parsed = parseAddressSpec(spec);
  checkGateway(parsed);
  checkRoutes(spec, parsed);
  return parsed;
}

/** Spiderpool refuses an empty podAffinity: it would match every pod while looking like a restriction. */
export function checkAffinities(spec: { podAffinity?: LabelSelector }): void {
  const a = spec.podAffinity;
  if (a && !a.matchLabels && !(a.matchExpressions && a.matchExpressions.length > 0)) {
    throw new SpecError("spec.podAffinity is empty, which would match every pod; give matchLabels or matchExpressions, or leave podAffinity out");
  }
}

/** The immutable fields (spec.subnet, spec.ipVersion) of an UPDATE: a message when one changed. */
export function immutableChange(subject: string, old: AddressSpec, next: AddressSpec): string | undefined {
  if (old.subnet !== next.subnet) {
    return `${subject}: spec.subnet is immutable (${old.subnet} → ${next.subnet}); create a new object with the new CIDR instead`;
  }
  if (old.ipVersion !== undefined && old.ipVersion !== next.ipVersion) {
    return `${subject}: spec.ipVersion is immutable (${old.ipVersion} → ${String(next.ipVersion)})`;
  }
  return undefined;
}

/** The message of a spec error, or rethrows anything else. */
export function specErrorMessage(e: unknown): string {
  if (e instanceof SpecError || e instanceof AddressError) return e.message;
  throw e;
}

/**
 * A spec change on an object being deleted, refused: its claims are being released as
 * they are (undefined when the spec is unchanged).
 */
export function deletingSpecChange(subject: string, old: object, next: object): string | undefined {
  const o = old as Record<string, unknown>;
  const n = next as Record<string, unknown>;
  const changed = [...new Set([...Object.keys(o), ...Object.keys(n)])].filter((k) => JSON.stringify(o[k]) !== JSON.stringify(n[k])).sort();
  if (changed.length === 0) return undefined;
  return `${subject} is being deleted; its spec can no longer change (changed: ${changed.map((k) => `spec.${k}`).join(", ")}); only metadata (labels, finalizers) may be updated until it is gone`;
}
