/** Spiderpool's labels on auto pools (ReconcileAutoIPPool), so its tooling recognises ours. */
export const LABEL = {
  ownerSubnet: "ipam.spidernet.io/owner-spider-subnet",
  ownerGV: "ipam.spidernet.io/owner-application-gv",
  ownerKind: "ipam.spidernet.io/owner-application-kind",
  ownerNamespace: "ipam.spidernet.io/owner-application-namespace",
  ownerName: "ipam.spidernet.io/owner-application-name",
  ownerUID: "ipam.spidernet.io/owner-application-uid",
  interface: "ipam.spidernet.io/interface",
  ipVersion: "ipam.spidernet.io/ip-version",
  reclaim: "ipam.spidernet.io/ippool-reclaim",
  cidr: "ipam.spidernet.io/ippool-cidr",
} as const;

/** Virtual pod labels an auto pool's podAffinity matches: the pod's top controller. */
export const APP_LABEL = {
  group: "ipam.spidernet.io/app-api-group",
  version: "ipam.spidernet.io/app-api-version",
  kind: "ipam.spidernet.io/app-kind",
  namespace: "ipam.spidernet.io/app-namespace",
  name: "ipam.spidernet.io/app-name",
} as const;

/** `10.244.0.0/16` → `10-244-0-0-16`, as Spiderpool's ippool-cidr label writes a CIDR. */
export function cidrLabelValue(cidr: string): string {
  return cidr.replace(/[.:/]/g, "-");
}
