/**
 * Reads a subnet's ledger as stored (its part ConfigMaps in the controller's namespace), for
 * tests and benches: one list, put together by the controller's own code.
 */
import type * as k8s from "@kubernetes/client-node";
import { parseAddressSpec } from "../../src/api/address-spec.js";
import { SubnetClient } from "../../src/k8s/resources.js";
import type { SpiderSubnet } from "../../src/api/types.js";
import { LEDGER_LABEL, type PartObject, partObjectName, partObjectOf } from "../../src/reservation/ledger-objects.js";
import { SubnetLedger } from "../../src/reservation/subnet-ledger.js";
import { ledgerOfObjects } from "../../src/reservation/ledger-view.js";
import { CONTROLLER_NAMESPACE } from "./controller.js";

export interface StoredLedger {
  ledger: SubnetLedger;
  /** The parts' names and resourceVersions: equal strings, unchanged ledger. */
  versions: string;
}

/** Subnet `name`'s ledger (empty when the subnet does not exist). */
export async function storedSubnetLedger(core: k8s.CoreV1Api, custom: k8s.CustomObjectsApi, name: string): Promise<StoredLedger> {
  const { subnet, parts } = await partsOf(core, custom, name);
  const versions = parts.map((p) => `${p.key}@${p.resourceVersion}`).sort().join(",");
  if (!subnet) return { ledger: SubnetLedger.empty(4), versions };
  return { ledger: ledgerOfObjects(subnet, parseAddressSpec(subnet.spec).family, parts), versions };
}

async function partsOf(core: k8s.CoreV1Api, custom: k8s.CustomObjectsApi, name: string): Promise<{ subnet: SpiderSubnet | undefined; parts: PartObject[] }> {
  const subnet = await new SubnetClient(custom).get(name);
  const list = await core.listNamespacedConfigMap({ namespace: CONTROLLER_NAMESPACE, labelSelector: LEDGER_LABEL });
  return { subnet, parts: list.items.map(partObjectOf).filter((p): p is PartObject => !!p && p.subnet === name && p.uid === subnet?.metadata.uid) };
}

/** Deletes every stored part of subnet `name`'s ledger: the ledger is lost (what a test of the repair needs). */
export async function deleteSubnetLedger(core: k8s.CoreV1Api, custom: k8s.CustomObjectsApi, name: string): Promise<void> {
  for (const p of (await partsOf(core, custom, name)).parts) {
    await core.deleteNamespacedConfigMap({ name: partObjectName(name, p.key), namespace: CONTROLLER_NAMESPACE });
  }
}

/** Subnet `name`'s ledger as Spiderpool's `controlledIPPools` JSON: pool → {ips, application}. */
export async function storedSubnetClaims(core: k8s.CoreV1Api, custom: k8s.CustomObjectsApi, name: string): Promise<Record<string, { ips: string[] }>> {
  return JSON.parse((await storedSubnetLedger(core, custom, name)).ledger.encode()) as Record<string, { ips: string[] }>;
}
