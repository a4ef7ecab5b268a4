/** The SpiderIPPool object of an auto pool, built from its plan and its subnet. Pure. */
import { APP_LABEL, LABEL, cidrLabelValue } from "../api/labels.js";
import type { WorkloadRef } from "../api/names.js";
import { API_VERSION, RELEASE_FINALIZER, type SpiderIPPool, type SpiderSubnet } from "../api/types.js";
import { formatCidr } from "../ip/cidr.js";
import type { RangeSet } from "../ip/range-set.js";
import type { ParsedAddressSpec } from "../api/address-spec.js";
import type { PoolPlan } from "./plan.js";

export function autoPoolObject(
  workload: WorkloadRef,
  pool: PoolPlan,
  reclaim: boolean,
  subnet: { object: SpiderSubnet; spec: ParsedAddressSpec },
  addresses: RangeSet,
): SpiderIPPool {
  const cidr = formatCidr(subnet.spec.cidr);
  return {
    apiVersion: API_VERSION,
    kind: "SpiderIPPool",
    metadata: {
      name: pool.name,
      finalizers: [RELEASE_FINALIZER],
      labels: {
        [LABEL.ownerSubnet]: pool.subnet,
        [LABEL.ownerGV]: "apps_v1",
        [LABEL.ownerKind]: workload.kind,
        [LABEL.ownerNamespace]: workload.namespace,
        [LABEL.ownerName]: workload.name,
        [LABEL.interface]: pool.interface,
        [LABEL.ipVersion]: `IPv${pool.family}`,
        [LABEL.reclaim]: String(reclaim),
        [LABEL.cidr]: cidrLabelValue(cidr),
      },
    },
    spec: {
      ipVersion: pool.family,
      subnet: cidr,
      ips: addresses.toStrings(),
      ...(subnet.object.spec.gateway ? { gateway: subnet.object.spec.gateway } : {}),
      ...(subnet.object.spec.routes ? { routes: subnet.object.spec.routes } : {}),
      podAffinity: {
        matchLabels: {
          [APP_LABEL.group]: "apps",
          [APP_LABEL.version]: "v1",
          [APP_LABEL.kind]: workload.kind,
          [APP_LABEL.namespace]: workload.namespace,
          [APP_LABEL.name]: workload.name,
        },
      },
    },
  };
}

/** Whether an existing pool was reserved for this workload (names collide only by hash collision). */
export function ownedBy(pool: SpiderIPPool, workload: WorkloadRef): boolean {
  const l = pool.metadata.labels ?? {};
  return l[LABEL.ownerKind] === workload.kind && l[LABEL.ownerNamespace] === workload.namespace && l[LABEL.ownerName] === workload.name;
}
