/** The SpiderIPPool object of an auto pool, built from its plan and its subnet. Pure. */
import { APP_LABEL, LABEL, cidrLabelValue } from "../api/labels.js";
import { OWNER_ANNOTATION, autoPoolOwner } from "../api/auto-pool-owner.js";
import { type WorkloadRef, labelValue, workloadKey } from "../api/names.js";
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
      // The owner in full (label values are cut to 63 characters and hashed).
      annotations: { [OWNER_ANNOTATION]: workloadKey(workload) },
      labels: {
        [LABEL.ownerSubnet]: labelValue(pool.subnet),
        [LABEL.ownerGV]: "apps_v1",
        [LABEL.ownerKind]: workload.kind,
        [LABEL.ownerNamespace]: workload.namespace,
        [LABEL.ownerName]: labelValue(workload.name),
        [LABEL.interface]: labelValue(pool.interface),
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
  const owner = autoPoolOwner(pool);
  return !!owner && workloadKey(owner) === workloadKey(workload);
}
