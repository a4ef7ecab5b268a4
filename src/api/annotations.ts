/**
 * The `ipam.spidernet.io/*` annotations pinpool reads from a workload's pod template, and
 * the one it writes. Parsing is strict: a bad value is refused with the annotation, the
 * value and what is allowed, never silently ignored.
 */
export const ANNOTATION = {
  subnet: "ipam.spidernet.io/subnet",
  subnets: "ipam.spidernet.io/subnets",
  ipNumber: "ipam.spidernet.io/ippool-ip-number",
  reclaim: "ipam.spidernet.io/ippool-reclaim",
  ippool: "ipam.spidernet.io/ippool",
  ippools: "ipam.spidernet.io/ippools",
  /**
   * Written by pinpool's mutating webhook on the pod template: the pools reserved for the
   * workload, in the `ippools` shape. A key of its own, so the user's annotations stay as
   * they wrote them.
   */
  reserved: "pinpool.io/reserved-ippools",
} as const;

export class AnnotationError extends Error {
  override name = "AnnotationError";
  constructor(
    readonly key: string,
    readonly value: string,
    reason: string,
  ) {
    super(`annotation ${key}: ${JSON.stringify(value)} ${reason}`);
  }
}

/** One interface's subnets (names of SpiderSubnets), per family. */
export interface InterfaceSubnets {
  interface: string;
  ipv4?: string;
  ipv6?: string;
}

/** `+N`: replicas + N addresses; `N`: exactly N. */
export interface IPNumber {
  flexible: boolean;
  count: number;
}

const INTERFACE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function parseJson(key: string, value: string, shape: string): unknown {
  try {
    return JSON.parse(value);
  } catch (e) {
    throw new AnnotationError(key, value, `is not valid JSON (${(e as Error).message}); expected ${shape}`);
  }
}

const SUBNET_SHAPE = `{"ipv4":["<SpiderSubnet>"],"ipv6":["<SpiderSubnet>"]}`;
const SUBNETS_SHAPE = `[{"interface":"eth0","ipv4":["<SpiderSubnet>"],"ipv6":["<SpiderSubnet>"]}]`;

/** Reads `{"ipv4": [...], "ipv6": [...]}`; only the first name of each family is used, as in Spiderpool. */
function familyNames(key: string, value: string, item: unknown, where: string, shape: string): Omit<InterfaceSubnets, "interface"> {
  if (typeof item !== "object" || item === null || Array.isArray(item)) {
    throw new AnnotationError(key, value, `${where} is not an object; expected ${shape}`);
  }
  const out: Omit<InterfaceSubnets, "interface"> = {};
  for (const family of ["ipv4", "ipv6"] as const) {
    const names = (item as Record<string, unknown>)[family];
    if (names === undefined || (Array.isArray(names) && names.length === 0)) continue;
    if (!Array.isArray(names) || typeof names[0] !== "string" || !DNS_SUBDOMAIN.test(names[0])) {
      throw new AnnotationError(key, value, `${where}.${family} must be a list of SpiderSubnet names (lower-case DNS names); expected ${shape}`);
    }
    out[family] = names[0];
  }
  if (!out.ipv4 && !out.ipv6) throw new AnnotationError(key, value, `${where} names no subnet; give ipv4, ipv6 or both: ${shape}`);
  return out;
}

/**
 * The subnets a workload asks for: `subnets` (per interface) wins over `subnet` (eth0).
 * Returns undefined when neither annotation is present.
 */
export function parseSubnetAnnotations(annotations: Record<string, string> | undefined): InterfaceSubnets[] | undefined {
  const plural = annotations?.[ANNOTATION.subnets];
  if (plural !== undefined) {
    const parsed = parseJson(ANNOTATION.subnets, plural, SUBNETS_SHAPE);
    if (!Array.isArray(parsed) || parsed.length === 0) {
      throw new AnnotationError(ANNOTATION.subnets, plural, `must be a non-empty list; expected ${SUBNETS_SHAPE}`);
    }
    const seenInterfaces = new Set<string>();
    const seenSubnets = new Map<string, string>();
    return parsed.map((item: unknown, i) => {
      const nic = (item as { interface?: unknown } | null)?.interface;
      if (typeof nic !== "string" || !INTERFACE.test(nic)) {
        throw new AnnotationError(ANNOTATION.subnets, plural, `[${i}].interface must be an interface name of 1-15 letters, digits, "_", "." or "-"`);
      }
      if (seenInterfaces.has(nic)) throw new AnnotationError(ANNOTATION.subnets, plural, `names interface "${nic}" twice; each interface once`);
      seenInterfaces.add(nic);
      const names = familyNames(ANNOTATION.subnets, plural, item, `[${i}]`, SUBNETS_SHAPE);
      for (const subnet of [names.ipv4, names.ipv6]) {
        if (!subnet) continue;
        const other = seenSubnets.get(subnet);
        if (other) {
          throw new AnnotationError(ANNOTATION.subnets, plural, `uses SpiderSubnet "${subnet}" for both "${other}" and "${nic}"; one subnet serves one interface`);
        }
        seenSubnets.set(subnet, nic);
      }
      return { interface: nic, ...names };
    });
  }
  const single = annotations?.[ANNOTATION.subnet];
  if (single === undefined) return undefined;
  const parsed = parseJson(ANNOTATION.subnet, single, SUBNET_SHAPE);
  return [{ interface: "eth0", ...familyNames(ANNOTATION.subnet, single, parsed, "the value", SUBNET_SHAPE) }];
}

/** `ippool-ip-number`: "+N" (flexible) or "N" (fixed), N a whole number ≥ 0 ("+0" allowed, "0" not). */
export function parseIPNumber(annotations: Record<string, string> | undefined): IPNumber | undefined {
  const value = annotations?.[ANNOTATION.ipNumber];
  if (value === undefined) return undefined;
  const m = /^(\+?)(0|[1-9]\d{0,5})$/.exec(value);
  if (!m) {
    throw new AnnotationError(
      ANNOTATION.ipNumber,
      value,
      `is not allowed; expected "+N" (replicas + N addresses) or "N" (exactly N), N a whole number 0-999999 without sign or spaces`,
    );
  }
  const parsed = { flexible: m[1] === "+", count: Number(m[2]) };
  if (!parsed.flexible && parsed.count === 0) {
    throw new AnnotationError(ANNOTATION.ipNumber, value, `would reserve no address; use "+0" for exactly the replicas, or N ≥ 1`);
  }
  return parsed;
}

/** `ippool-reclaim`: "true" (default: the pool goes with the workload) or "false" (kept). */
export function parseReclaim(annotations: Record<string, string> | undefined): boolean {
  const value = annotations?.[ANNOTATION.reclaim];
  if (value === undefined) return true;
  if (value !== "true" && value !== "false") {
    throw new AnnotationError(ANNOTATION.reclaim, value, `is not allowed; expected "true" or "false"`);
  }
  return value === "true";
}

/** The pools reserved for one interface, in the `ippools` annotation's shape. */
export interface InterfacePools {
  interface: string;
  ipv4?: string[];
  ipv6?: string[];
}

/** Deterministic text for the reserved-pools annotation: same pools, same bytes. */
/**
 * The pools `pinpool.io/reserved-ippools` names, each with its interface and family; empty
 * when the annotation is absent or not pinpool's shape (it is pinpool's own: nothing to refuse).
 */
export function reservedPoolNames(annotations: Record<string, string> | undefined): Map<string, { interface: string; family: 4 | 6 }> {
  const out = new Map<string, { interface: string; family: 4 | 6 }>();
  let list: unknown;
  try {
    list = JSON.parse(annotations?.[ANNOTATION.reserved] ?? "[]");
  } catch {
    return out;
  }
  if (!Array.isArray(list)) return out;
  for (const entry of list as InterfacePools[]) {
    for (const family of [4, 6] as const) {
      for (const name of entry?.[family === 4 ? "ipv4" : "ipv6"] ?? []) if (typeof name === "string") out.set(name, { interface: entry.interface, family });
    }
  }
  return out;
}

export function formatReservedPools(pools: readonly InterfacePools[]): string {
  const sorted = [...pools].sort((a, b) => (a.interface < b.interface ? -1 : a.interface > b.interface ? 1 : 0));
  return JSON.stringify(
    sorted.map((p) => ({
      interface: p.interface,
      ...(p.ipv4 ? { ipv4: p.ipv4 } : {}),
      ...(p.ipv6 ? { ipv6: p.ipv6 } : {}),
    })),
  );
}
