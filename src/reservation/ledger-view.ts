/**
 * A subnet's ledger as put together from its stored parts, pure: what the cache of parts
 * (subnet-ledger-parts.ts) keeps per subnet, and what a one-off reader (a test, a tool)
 * builds from listed objects.
 */
import type { SpiderSubnet } from "../api/types.js";
import type { Family } from "../ip/address.js";
import { DIRECTORY, LedgerPart, blockKey } from "./ledger-part.js";
import { type DirectoryDocument, LEGACY_MARK, type PartObject, decodeDirectory, partObjectName } from "./ledger-objects.js";
import { OverlayMap } from "./overlay-map.js";
import { SubnetLedger } from "./subnet-ledger.js";

/** Names a part's object in messages. */
export const partObject = (subnet: string, key: string): string => `ConfigMap ${partObjectName(subnet, key)}`;

export interface LedgerView {
  readonly uid: string;
  readonly family: Family;
  readonly ledger: SubnetLedger;
  readonly directory: DirectoryDocument;
  readonly registered: ReadonlySet<string>;
  readonly versions: OverlayMap<string, string>;
}

/** How ledgers were kept before parts: in the subnet's `status.controlledIPPools` (the mark left after the move reads as empty). */
export function legacyLedger(subnet: SpiderSubnet, family: Family): SubnetLedger {
  const text = subnet.status?.controlledIPPools;
  return SubnetLedger.decode(family, text === LEGACY_MARK ? undefined : text, `SpiderSubnet "${subnet.metadata.name}" status.controlledIPPools`);
}

/** The ledger of subnet `name` (UID `uid`) from its directory object and its parts as `partOf` finds them (undefined: missing). */
export function buildView(name: string, uid: string, family: Family, dir: PartObject, source: { partOf: (key: string) => PartObject | undefined; parse: (p: PartObject) => LedgerPart }): LedgerView {
  const { partOf, parse } = source;
  const directory = decodeDirectory(family, dir.text, partObject(name, DIRECTORY));
  let versions = OverlayMap.of<string, string>([[DIRECTORY, dir.resourceVersion]]);
  const parts = new Map<string, LedgerPart | undefined>();
  for (const key of directory.blocks.map(blockKey)) {
    const p = partOf(key);
    parts.set(key, p && parse(p));
    if (p) versions = versions.with(key, p.resourceVersion);
  }
  return { uid, family, directory, registered: new Set(parts.keys()), versions, ledger: SubnetLedger.stored(family, directory.pools, directory.blocks, parts) };
}

/** `subnet`'s ledger from its part objects as listed (for a one-off reader: a test, a tool); from its status when nothing is stored in parts yet. */
export function ledgerOfObjects(subnet: SpiderSubnet, family: Family, objects: readonly PartObject[]): SubnetLedger {
  const name = subnet.metadata.name as string;
  const mine = new Map(objects.filter((p) => p.subnet === name && p.uid === subnet.metadata.uid).map((p) => [p.key, p] as const));
  const dir = mine.get(DIRECTORY);
  if (!dir) return legacyLedger(subnet, family);
  return buildView(name, subnet.metadata.uid as string, family, dir, { partOf: (key) => mine.get(key), parse: (p) => LedgerPart.parse(family, p.text, partObject(name, p.key)) }).ledger;
}

