import { AddressError, type Family, parseAddressOf } from "../ip/address.js";
import { type Cidr, cidrBounds, formatCidr, parseCidr } from "../ip/cidr.js";
import { parseIPList } from "../ip/ip-list.js";
import { RangeSet } from "../ip/range-set.js";
import type { AddressSpec } from "./types.js";

/** A subnet's or pool's spec, parsed: the addresses it may hand out and where they live. */
export interface ParsedAddressSpec {
  readonly family: Family;
  readonly cidr: Cidr;
  /** `spec.ips` less `spec.excludeIPs`: what TOTAL-IP-COUNT counts. */
  readonly addresses: RangeSet;
  readonly gateway?: bigint;
}

/**
 * Parses `spec.subnet`, `spec.ips`, `spec.excludeIPs` and `spec.gateway`, checking that
 * the family matches `spec.ipVersion` (when given) and that every address lies inside the
 * CIDR. Errors name the field, the value and what is allowed.
 */
export function parseAddressSpec(spec: AddressSpec): ParsedAddressSpec {
  const cidr = parseCidr(spec.subnet, "spec.subnet");
  if (spec.ipVersion !== undefined && spec.ipVersion !== cidr.family) {
    throw new AddressError(
      "spec.ipVersion",
      spec.ipVersion,
      `spec.subnet ${spec.subnet} is IPv${cidr.family}; set spec.ipVersion to ${cidr.family} or leave it out`,
    );
  }
  const family = cidr.family;
  const bounds = cidrBounds(cidr);
  const inside = RangeSet.of(family, bounds.start, bounds.end);
  const checkInside = (set: RangeSet, field: string): void => {
    const outside = set.difference(inside);
    if (!outside.isEmpty) {
      throw new AddressError(field, outside.toString(), `outside spec.subnet ${formatCidr(cidr)}`);
    }
  };
  const ips = parseIPList(family, spec.ips, "spec.ips");
  checkInside(ips, "spec.ips");
  const excluded = parseIPList(family, spec.excludeIPs, "spec.excludeIPs");
  checkInside(excluded, "spec.excludeIPs");
  const addresses = ips.difference(excluded);
  if (spec.gateway === undefined) return { family, cidr, addresses };
  const gateway = parseAddressOf(family, spec.gateway, "spec.gateway");
  checkInside(RangeSet.of(family, gateway), "spec.gateway");
  return { family, cidr, addresses, gateway };
}

/**
 * The parsed spec, or undefined when it does not parse (an object admitted while the
 * webhooks were off, in a shape pinpool never accepts: it holds and hands out nothing).
 * Any other error propagates.
 */
export function parsedOrUndefined(spec: AddressSpec): ParsedAddressSpec | undefined {
  try {
    return parseAddressSpec(spec);
  } catch (e) {
    if (e instanceof AddressError) return undefined;
    throw e;
  }
}
