/**
 * Which SpiderEndpoints to recreate, pure. The agent writes a pod's endpoint after it has
 * answered the ADD (its claim in the pool is the one write on the critical path), so an
 * agent that dies in between leaves a pool allocation whose pod exists but has no
 * endpoint. The pools' records are the truth: from them the sweep rebuilds what the agent
 * would have written, each address on the interface its record names (the pod's annotations
 * say it for an address that records none), except the sandbox ID, of which the record keeps
 * only a digest: the endpoint names none, and a DEL's release is decided by the record's
 * digest (src/agent/held.ts).
 */
import { parseAddressSpec } from "../api/address-spec.js";
import { ANNOTATION } from "../api/annotations.js";
import { parseHolder } from "../api/holders.js";
import { API_VERSION, type EndpointIP, type SpiderEndpoint, type SpiderIPPool } from "../api/types.js";
import { formatAddress } from "../ip/address.js";
import { AllocationRecord } from "../ip/allocation-record.js";
import { parseCidr } from "../ip/cidr.js";
import type { Snapshot } from "./snapshot.js";

/** The interface a pod's annotations give pool `pool` to (eth0 when they name none). */
export function interfaceOf(annotations: Record<string, string>, pool: string): string {
  for (const key of [ANNOTATION.reserved, ANNOTATION.ippools]) {
    const value = annotations[key];
    if (!value) continue;
    try {
      const list = JSON.parse(value) as Array<{ interface?: string; ipv4?: unknown; ipv6?: unknown }>;
      if (!Array.isArray(list)) continue;
      const i = list.findIndex((e) => [e.ipv4, e.ipv6].some((names) => Array.isArray(names) && names.includes(pool)));
      if (i >= 0) return list[i]?.interface ?? (i === 0 ? "eth0" : `net${i}`);
    } catch {
      continue; // a malformed annotation: the agent refused it, so it claimed nothing by it
    }
  }
  return "eth0";
}

/**
 * The endpoints that pool allocations call for and that do not exist, for live scheduled
 * pods (`ns/name` in `endpoints` exists); only for the pods `only` names, when given. Every
 * pool that records such a pod must be among `pools`: an endpoint is built from all of them.
 */
export function missingEndpoints(s: { pools: Iterable<SpiderIPPool>; endpoints: { has(key: string): boolean }; pods: Snapshot["pods"] }, only?: ReadonlySet<string>): SpiderEndpoint[] {
  const existing = s.endpoints;
  const wanted = new Map<string, SpiderEndpoint>();
  for (const pool of s.pools) {
    if (!pool.status?.allocations?.holders.length) continue;
    const name = pool.metadata.name as string;
    let family: 4 | 6;
    let record: AllocationRecord;
    try {
      family = parseAddressSpec(pool.spec).family;
      record = AllocationRecord.decode(family, pool.status.allocations);
    } catch {
      continue; // an unreadable pool: the other steps report it
    }
    const prefix = parseCidr(pool.spec.subnet).prefix;
    for (const holder of new Set(record.holders())) {
      const h = parseHolder(holder);
      if (!h) continue;
      const key = `${h.namespace}/${h.pod}`;
      if (only && !only.has(key)) continue;
      const pod = s.pods.get(key);
      if (existing.has(key) || !pod?.spec?.nodeName || pod.metadata?.deletionTimestamp) continue;
      let ep = wanted.get(key);
      if (!ep) {
        ep = {
          apiVersion: API_VERSION,
          kind: "SpiderEndpoint",
          metadata: { name: h.pod, namespace: h.namespace },
          status: {
            current: { uid: pod.metadata?.uid ?? "", node: pod.spec.nodeName, ips: [] },
            ...("statefulSet" in h ? { ownerControllerType: "StatefulSet", ownerControllerName: h.statefulSet } : {}),
          },
        };
        wanted.set(key, ep);
      }
      const ips = (ep.status?.current as { ips: EndpointIP[] }).ips;
      for (const address of record.addressesOf(holder)) {
        const ifName = record.useOf(address)?.interface ?? interfaceOf(pod.metadata?.annotations ?? {}, name);
        let entry = ips.find((i) => i.interface === ifName);
        if (!entry) ips.push((entry = { interface: ifName }));
        const k = family === 4 ? "ipv4" : "ipv6";
        entry[k] = `${formatAddress(family, address)}/${prefix}`;
        entry[`${k}Pool`] = name;
        if (pool.spec.gateway) entry[`${k}Gateway`] = pool.spec.gateway;
      }
    }
  }
  return [...wanted.values()];
}
