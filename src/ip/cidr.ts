import { AddressError, type Family, familyBits, formatAddress, maxAddress, parseAddress, quotingInput } from "./address.js";

export interface Cidr {
  readonly family: Family;
  /** The network address (all host bits zero). */
  readonly base: bigint;
  readonly prefix: number;
}

/** First and last address of a CIDR, inclusive. */
export function cidrBounds(cidr: Cidr): { start: bigint; end: bigint } {
  const hostBits = BigInt(familyBits(cidr.family) - cidr.prefix);
  return { start: cidr.base, end: cidr.base + (1n << hostBits) - 1n };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatAddress(cidr.family, cidr.base)}/${cidr.prefix}`;
}

/**
 * Parses a CIDR with Spiderpool's canonical rule: host bits must be zero, so
 * `10.244.0.1/16` is refused with a message that suggests `10.244.0.0/16`.
 */
export function parseCidr(text: string, what = "CIDR"): Cidr {
  if (typeof text !== "string") {
    throw new AddressError(what, text, "expected a CIDR such as 10.244.0.0/16");
  }
  const slash = text.indexOf("/");
  if (slash < 0) {
    throw new AddressError(what, text, "expected address/prefix, e.g. 10.244.0.0/16 or fd00::/64");
  }
  const addr = quotingInput(what, text, () => parseAddress(text.slice(0, slash), what));
  const prefixText = text.slice(slash + 1);
  const bits = familyBits(addr.family);
  if (!/^(0|[1-9]\d{0,2})$/.test(prefixText) || Number(prefixText) > bits) {
    throw new AddressError(what, text, `prefix length must be a whole number 0-${bits}`);
  }
  const prefix = Number(prefixText);
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  const base = addr.value & (maxAddress(addr.family) ^ hostMask);
  if (base !== addr.value) {
    const canonical = formatCidr({ family: addr.family, base, prefix });
    throw new AddressError(what, text, `host bits are set; did you mean "${canonical}"?`);
  }
  return { family: addr.family, base, prefix };
}
