/**
 * IP addresses as BigInt values in one of two families.
 *
 * Why BigInt beside `netmask`: netmask turns IPv4 text into a 32-bit number and back,
 * and we use it for exactly that (after our own strict syntax check, because netmask
 * accepts octal `010.0.0.1` and three-part `1.2.3`). Every range and set operation, though,
 * must work the same for IPv6's 128 bits, and a JS number is exact only up to 2^53.
 */
import { ip2long, long2ip } from "netmask";

export type Family = 4 | 6;

export interface Address {
  readonly family: Family;
  readonly value: bigint;
}

/** A bad address, range or CIDR: `invalid <what> "<input>": <reason>`. */
export class AddressError extends Error {
  override name = "AddressError";
  constructor(
    readonly what: string,
    readonly input: unknown,
    readonly reason: string,
  ) {
    super(`invalid ${what} ${typeof input === "string" ? JSON.stringify(input) : String(JSON.stringify(input))}: ${reason}`);
  }
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };
const MAX: Record<Family, bigint> = { 4: (1n << 32n) - 1n, 6: (1n << 128n) - 1n };

/** Runs `parse`, re-labelling an address error so it quotes the whole `input` (a CIDR, a range). */
export function quotingInput<T>(what: string, input: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof AddressError) throw new AddressError(what, input, e.reason);
    throw e;
  }
}

export function familyBits(family: Family): number {
  return BITS[family];
}

export function maxAddress(family: Family): bigint {
  return MAX[family];
}

export function familyName(family: Family): string {
  return family === 4 ? "IPv4" : "IPv6";
}

const IPV4_SYNTAX = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseIPv4Value(text: string, what: string): bigint {
  const m = IPV4_SYNTAX.exec(text);
  if (!m) {
    throw new AddressError(what, text, `expected IPv4 dotted decimal a.b.c.d or IPv6`);
  }
  for (const octet of m.slice(1)) {
    if (octet.length > 1 && octet.startsWith("0")) {
      throw new AddressError(
        what,
        text,
        `octet "${octet}" has a leading zero, which some tools read as octal; ` +
          `write "${m.slice(1).map((o) => String(Number(o))).join(".")}"`,
      );
    }
    if (Number(octet) > 255) {
      throw new AddressError(what, text, `octet ${octet} is out of range 0-255`);
    }
  }
  return BigInt(ip2long(text) >>> 0);
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIPv6Groups(part: string, text: string, what: string): bigint[] {
  if (part === "") return [];
  return part.split(":").map((group) => {
    if (!HEX_GROUP.test(group)) {
      throw new AddressError(what, text, `group "${group}" is not 1-4 hexadecimal digits`);
    }
    return BigInt(`0x${group}`);
  });
}

function parseIPv6Value(text: string, what: string): bigint {
  if (text.includes("%")) {
    throw new AddressError(what, text, `zone ids (%…) are not allowed in pool addresses`);
  }
  let body = text;
  let tail: bigint[] = [];
  // An embedded IPv4 address (e.g. ::ffff:192.0.2.1) takes the last two groups.
  const lastColon = body.lastIndexOf(":");
  if (body.slice(lastColon + 1).includes(".")) {
    const v4 = quotingInput(what, text, () => parseIPv4Value(body.slice(lastColon + 1), what));
    tail = [v4 >> 16n, v4 & 0xffffn];
    body = body.slice(0, lastColon + 1) + "0";
  }
  const halves = body.split("::");
  if (halves.length > 2) {
    throw new AddressError(what, text, `"::" may appear only once`);
  }
  let groups: bigint[];
  if (halves.length === 2) {
    const head = parseIPv6Groups(halves[0] ?? "", text, what);
    const rest = parseIPv6Groups(halves[1] ?? "", text, what);
    const restWithTail = tail.length ? [...rest.slice(0, -1), ...tail] : rest;
    const missing = 8 - head.length - restWithTail.length;
    if (missing < 1) {
      throw new AddressError(what, text, `"::" must stand for at least one zero group`);
    }
    groups = [...head, ...new Array<bigint>(missing).fill(0n), ...restWithTail];
  } else {
    const all = parseIPv6Groups(body, text, what);
    groups = tail.length ? [...all.slice(0, -1), ...tail] : all;
    if (groups.length !== 8) {
      throw new AddressError(what, text, `an IPv6 address has 8 groups, found ${groups.length}`);
    }
  }
  return groups.reduce((acc, g) => (acc << 16n) | g, 0n);
}

/**
 * Parses an IPv4 or IPv6 address. `what` names the input in errors (e.g. "spec.gateway").
 * IPv4-mapped IPv6 (`::ffff:1.2.3.4`) stays IPv6: it is a different address from 1.2.3.4
 * in a pool's address space.
 */
export function parseAddress(text: string, what = "IP address"): Address {
  if (typeof text !== "string" || text === "") {
    throw new AddressError(what, text, `expected an IPv4 or IPv6 address`);
  }
  if (/\s/.test(text)) {
    throw new AddressError(what, text, `white space is not allowed`);
  }
  if (text.includes(":")) return { family: 6, value: parseIPv6Value(text, what) };
  return { family: 4, value: parseIPv4Value(text, what) };
}

/** Parses an address that must be of `family`. */
export function parseAddressOf(family: Family, text: string, what = "IP address"): bigint {
  const a = parseAddress(text, what);
  if (a.family !== family) {
    throw new AddressError(
      what,
      text,
      `it is ${familyName(a.family)}, but this object is ${familyName(family)}`,
    );
  }
  return a.value;
}

function formatIPv6(value: bigint): string {
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  // RFC 5952 §5: IPv4-mapped addresses keep their dotted tail.
  if (value >> 32n === 0xffffn) return `::ffff:${long2ip(Number(value & 0xffffffffn))}`;
  // RFC 5952 §4.2: "::" replaces the longest run (the first one on a tie) of two or more zero groups.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Formats an address: dotted decimal for IPv4, RFC 5952 canonical text for IPv6. */
export function formatAddress(family: Family, value: bigint): string {
  return family === 4 ? long2ip(Number(value)) : formatIPv6(value);
}
