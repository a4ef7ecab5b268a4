/** Typed access to the cluster-scoped Spider resources through the CustomObjects API. */
import type * as k8s from "@kubernetes/client-node";
import { GROUP, PLURAL, type SpiderIPPool, type SpiderReservedIP, VERSION } from "../api/types.js";
import type { WorkloadRef } from "../api/names.js";
import type { WorkloadObject } from "../api/names.js";
import { isNotFound } from "./errors.js";

export class PoolClient {
  constructor(private readonly custom: k8s.CustomObjectsApi) {}

  private readonly base = { group: GROUP, version: VERSION, plural: PLURAL.SpiderIPPool };

  async get(name: string): Promise<SpiderIPPool | undefined> {
    try {
      return (await this.custom.getClusterCustomObject({ ...this.base, name })) as SpiderIPPool;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async create(pool: SpiderIPPool): Promise<SpiderIPPool> {
    return (await this.custom.createClusterCustomObject({ ...this.base, body: pool })) as SpiderIPPool;
  }

  /** Replaces the spec; the object's resourceVersion makes it a compare-and-swap. */
  async replace(pool: SpiderIPPool): Promise<SpiderIPPool> {
    return (await this.custom.replaceClusterCustomObject({ ...this.base, name: pool.metadata.name as string, body: pool })) as SpiderIPPool;
  }

  /** Replaces the status; the object's resourceVersion makes it a compare-and-swap. */
  async replaceStatus(pool: SpiderIPPool): Promise<SpiderIPPool> {
    return (await this.custom.replaceClusterCustomObjectStatus({ ...this.base, name: pool.metadata.name as string, body: pool })) as SpiderIPPool;
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
