/**
 * Types of the spiderpool.spidernet.io/v2beta1 resources, as in manifests/crds/. Field
 * names and meanings follow Spiderpool; pinpool's additions are marked.
 */
import type { AllocationsStatus } from "../ip/allocation-status.js";

export const GROUP = "spiderpool.spidernet.io";
export const VERSION = "v2beta1";
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface Route {
  dst: string;
  gw: string;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }>;
}

/** Fields SpiderSubnet and SpiderIPPool share. */
export interface AddressSpec {
  ipVersion?: 4 | 6;
  subnet: string;
  ips?: string[];
  excludeIPs?: string[];
  gateway?: string;
  routes?: Route[];
}

export interface SpiderSubnet {
  apiVersion: typeof API_VERSION;
  kind: "SpiderSubnet";
  metadata: ObjectMeta;
  spec: AddressSpec;
  status?: {
    /** JSON string: pool name → {ips, application}. The subnet's ledger. */
    controlledIPPools?: string;
    totalIPCount?: number;
    allocatedIPCount?: number;
    conditions?: Condition[];
  };
}

export interface SpiderIPPoolSpec extends AddressSpec {
  vlan?: number;
  podAffinity?: LabelSelector;
  namespaceAffinity?: LabelSelector;
  nodeAffinity?: LabelSelector;
  namespaceName?: string[];
  nodeName?: string[];
  multusName?: string[];
  default?: boolean;
  disable?: boolean;
}

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface SpiderIPPool {
  apiVersion: typeof API_VERSION;
  kind: "SpiderIPPool";
  metadata: ObjectMeta;
  spec: SpiderIPPoolSpec;
  status?: {
    /** pinpool: the compact allocation record (src/ip/allocation-record.ts). */
    allocations?: AllocationsStatus;
    /** Spiderpool's allocation map; pinpool reads none of it and never writes it. */
    allocatedIPs?: string;
    totalIPCount?: number;
    allocatedIPCount?: number;
    conditions?: Condition[];
  };
}

export interface EndpointIP {
  interface: string;
  ipv4?: string;
  ipv6?: string;
  ipv4Pool?: string;
  ipv6Pool?: string;
  vlan?: number;
  ipv4Gateway?: string;
  ipv6Gateway?: string;
  cleanGateway?: boolean;
  mac?: string;
  routes?: Route[];
}

export interface SpiderEndpoint {
  apiVersion: typeof API_VERSION;
  kind: "SpiderEndpoint";
  metadata: ObjectMeta;
  status?: {
    current?: {
      uid: string;
      node: string;
      /** pinpool: the sandbox (CNI_CONTAINERID) the addresses were given to. */
      containerID?: string;
      ips: EndpointIP[];
    };
    ownerControllerType?: string;
    ownerControllerName?: string;
  };
}

export interface SpiderReservedIP {
  apiVersion: typeof API_VERSION;
  kind: "SpiderReservedIP";
  metadata: ObjectMeta;
  spec: { ipVersion?: 4 | 6; ips?: string[] };
}

/** Plural resource names, as the API paths use them. */
export const PLURAL = {
  SpiderSubnet: "spidersubnets",
  SpiderIPPool: "spiderippools",
  SpiderEndpoint: "spiderendpoints",
  SpiderReservedIP: "spiderreservedips",
} as const;

/**
 * pinpool's finalizer on SpiderIPPools and SpiderSubnets. Admission never frees an address
 * (a review's content proves nothing: it can be forged, or refused by a later step);
 * deleting waits until the object's addresses are unused (no pod holds a pool's address, no
 * pool lies in a subnet), then the controller releases its ledger claims and removes this.
 */
export const RELEASE_FINALIZER = "pinpool.io/release-addresses";
