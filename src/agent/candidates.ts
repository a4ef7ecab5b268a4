/**
 * Which pools a pod's interface may take addresses from, per family, in Spiderpool's
 * priority order (first source that names pools wins): the pools pinpool reserved for the
 * workload (`pinpool.io/reserved-ippools`), `ipam.spidernet.io/ippools`,
 * `ipam.spidernet.io/ippool`, the namespace's defaults, the network config's defaults, and
 * pools with `spec.default: true`. Pure.
 */
import { ANNOTATION, AnnotationError } from "../api/annotations.js";

export interface Candidates {
  /** Where the names came from, for messages. */
  source: string;
  ipv4: string[];
  ipv6: string[];
}

const POOLS_SHAPE = `[{"interface":"eth0","ipv4":["<pool>"],"ipv6":["<pool>"]}]`;
const POOL_SHAPE = `{"ipv4":["<pool>"],"ipv6":["<pool>"]}`;

function names(key: string, value: string, v: unknown, where: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((n) => typeof n === "string" && n !== "")) {
    throw new AnnotationError(key, value, `${where} must be a list of SpiderIPPool names`);
  }
  return v as string[];
}

function parse(key: string, value: string, shape: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw new AnnotationError(key, value, `is not valid JSON; expected ${shape}`);
  }
}

/** `[{"interface":…,"ipv4":[…],"ipv6":[…]}]`: the entry for `ifName`; entries without interfaces go to the Nth NIC (eth0, net1, …) in order. */
function fromInterfaceList(key: string, value: string, ifName: string): Candidates | undefined {
  const list = parse(key, value, POOLS_SHAPE);
  if (!Array.isArray(list)) throw new AnnotationError(key, value, `must be a list; expected ${POOLS_SHAPE}`);
  const nth = (i: number): string => (i === 0 ? "eth0" : `net${i}`);
  const entry = (list as Array<{ interface?: string; ipv4?: unknown; ipv6?: unknown }>).find((e, i) => (e.interface ?? nth(i)) === ifName);
  if (!entry) return undefined;
  return { source: `annotation ${key}`, ipv4: names(key, value, entry.ipv4, `[${ifName}].ipv4`), ipv6: names(key, value, entry.ipv6, `[${ifName}].ipv6`) };
}

export interface CandidateInputs {
  ifName: string;
  podAnnotations: Record<string, string>;
  namespaceAnnotations: Record<string, string>;
  netconfDefaults: { ipv4: string[]; ipv6: string[] };
  defaultPools: { ipv4: string[]; ipv6: string[] };
}

/** The candidate pools for one interface; throws AnnotationError for a malformed annotation. */
export function candidatePools(i: CandidateInputs): Candidates {
  for (const key of [ANNOTATION.reserved, ANNOTATION.ippools]) {
    const value = i.podAnnotations[key];
    if (value === undefined) continue;
    const found = fromInterfaceList(key, value, i.ifName);
    if (found) return found;
  }
  const single = i.podAnnotations[ANNOTATION.ippool];
  if (single !== undefined && i.ifName === "eth0") {
    const v = parse(ANNOTATION.ippool, single, POOL_SHAPE) as { ipv4?: unknown; ipv6?: unknown } | null;
    if (typeof v !== "object" || v === null) throw new AnnotationError(ANNOTATION.ippool, single, `expected ${POOL_SHAPE}`);
    return { source: `annotation ${ANNOTATION.ippool}`, ipv4: names(ANNOTATION.ippool, single, v.ipv4, "ipv4"), ipv6: names(ANNOTATION.ippool, single, v.ipv6, "ipv6") };
  }
  const ns4 = i.namespaceAnnotations["ipam.spidernet.io/default-ipv4-ippool"];
  const ns6 = i.namespaceAnnotations["ipam.spidernet.io/default-ipv6-ippool"];
  if (ns4 !== undefined || ns6 !== undefined) {
    return {
      source: "the namespace's default-ipv4/ipv6-ippool annotations",
      ipv4: ns4 === undefined ? [] : names("ipam.spidernet.io/default-ipv4-ippool", ns4, parse("ipam.spidernet.io/default-ipv4-ippool", ns4, '["<pool>"]'), "the value"),
      ipv6: ns6 === undefined ? [] : names("ipam.spidernet.io/default-ipv6-ippool", ns6, parse("ipam.spidernet.io/default-ipv6-ippool", ns6, '["<pool>"]'), "the value"),
    };
  }
  if (i.netconfDefaults.ipv4.length || i.netconfDefaults.ipv6.length) return { source: "the network config's default pools", ...i.netconfDefaults };
  return { source: "pools with spec.default: true", ...i.defaultPools };
}
