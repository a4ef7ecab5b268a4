/** Typed access to the cluster-scoped Spider resources through the CustomObjects API. */
import type * as k8s from "@kubernetes/client-node";
import { GROUP, PLURAL, type SpiderIPPool, type SpiderReservedIP, type SpiderSubnet, VERSION } from "../api/types.js";
import type { WorkloadObject, WorkloadRef } from "../api/names.js";
import { isNotFound } from "./errors.js";

/** Typed CAS access to one kind of cluster-scoped Spider object. */
export class SpiderClient<T extends { metadata: { name?: string } }> {
  private readonly base: { group: string; version: string; plural: string };

  constructor(
    private readonly custom: k8s.CustomObjectsApi,
    plural: string,
  ) {
    this.base = { group: GROUP, version: VERSION, plural };
  }

  async get(name: string): Promise<T | undefined> {
    try {
      return (await this.custom.getClusterCustomObject({ ...this.base, name })) as T;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async list(): Promise<T[]> {
    return ((await this.custom.listClusterCustomObject(this.base)) as { items: T[] }).items;
  }

  async create(object: T): Promise<T> {
    return (await this.custom.createClusterCustomObject({ ...this.base, body: object })) as T;
  }

  /** Replaces the object (spec, metadata); its resourceVersion makes it a compare-and-swap. */
  async replace(object: T): Promise<T> {
    return (await this.custom.replaceClusterCustomObject({ ...this.base, name: object.metadata.name as string, body: object })) as T;
  }

  /** Replaces the status; the object's resourceVersion makes it a compare-and-swap. */
  async replaceStatus(object: T): Promise<T> {
    return (await this.custom.replaceClusterCustomObjectStatus({ ...this.base, name: object.metadata.name as string, body: object })) as T;
  }
}

export class PoolClient extends SpiderClient<SpiderIPPool> {
  constructor(custom: k8s.CustomObjectsApi) {
    super(custom, PLURAL.SpiderIPPool);
  }
}

export class SubnetClient extends SpiderClient<SpiderSubnet> {
  constructor(custom: k8s.CustomObjectsApi) {
    super(custom, PLURAL.SpiderSubnet);
  }
}

export async function listReservedIPs(custom: k8s.CustomObjectsApi): Promise<SpiderReservedIP[]> {
  const list = (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderReservedIP })) as { items: SpiderReservedIP[] };
  return list.items;
}

/** A Deployment or StatefulSet by reference. */
export async function readWorkload(apps: k8s.AppsV1Api, w: WorkloadRef): Promise<WorkloadObject> {
  const at = { namespace: w.namespace, name: w.name };
  return w.kind === "Deployment" ? apps.readNamespacedDeployment(at) : apps.readNamespacedStatefulSet(at);
}
