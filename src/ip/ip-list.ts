import { AddressError, type Family, familyName, formatAddress, parseAddress, quotingInput } from "./address.js";
import { type IPRange, RangeSet } from "./range-set.js";

const ALLOWED = 'expected an address "a.b.c.d" or a range "a.b.c.d-e.f.g.h"';

/**
 * Parses one `spec.ips` / `spec.excludeIPs` entry as Spiderpool accepts it: a single
 * address or an `a-b` range with a ≤ b, both of `family`. `field` names the entry in
 * errors, e.g. `spec.ips[2]`.
 */
export function parseIPEntry(family: Family, text: unknown, field: string): IPRange {
  if (typeof text !== "string") throw new AddressError(field, text, `not a string; ${ALLOWED}`);
  const parts = text.split("-");
  if (parts.length > 2) throw new AddressError(field, text, `more than one "-"; ${ALLOWED}`);
  const [startText, endText = startText] = parts as [string, string?];
  const [start, end] = quotingInput(field, text, () => [parseAddress(startText, field), parseAddress(endText, field)]);
  for (const a of [start, end]) {
    if (a.family !== family) {
      throw new AddressError(
        field,
        text,
        `${formatAddress(a.family, a.value)} is ${familyName(a.family)}, but this object is ${familyName(family)} (spec.ipVersion ${family})`,
      );
    }
  }
  if (start.value > end.value) {
    throw new AddressError(
      field,
      text,
      `the range is reversed; write "${formatAddress(family, end.value)}-${formatAddress(family, start.value)}"`,
    );
  }
  return { start: start.value, end: end.value };
}

/** Parses a whole `spec.ips`-style list into one merged set. */
export function parseIPList(family: Family, entries: readonly unknown[] | undefined, field: string): RangeSet {
  if (entries === undefined) return RangeSet.empty(family);
  if (!Array.isArray(entries)) throw new AddressError(field, entries, `expected a list; each entry ${ALLOWED}`);
  return RangeSet.fromRanges(
    family,
    entries.map((e, i) => parseIPEntry(family, e, `${field}[${i}]`)),
  );
}
