/**
 * The subnet ledgers' stored parts (ledger-objects.ts), followed by one watch, and their
 * writes. A ledger is read from the cache, so reading costs what changed since the last
 * read, not the ledger's size; the cache may lag, and every write is a compare-and-swap on
 * the resourceVersion it read (a create where it saw nothing), so a stale read costs a 409
 * (after which the object is read afresh), never a claim decided on state that changed.
 */
import * as k8s from "@kubernetes/client-node";
import type { SpiderSubnet } from "../api/types.js";
import type { Family } from "../ip/address.js";
import { isConflict, isNotFound } from "../k8s/errors.js";
import { WatchCache } from "../k8s/watch-cache.js";
import { DIRECTORY, LedgerPart, blockKey, blockSet } from "./ledger-part.js";
import { type DirectoryDocument, LEDGER_LABEL, type PartObject, decodeDirectory, encodeDirectory, partBody, partObjectName, partObjectOf } from "./ledger-objects.js";
import { OverlayMap } from "./overlay-map.js";
import { SubnetLedger } from "./subnet-ledger.js";

/** A ledger as read, with what it was read from: a write compares-and-swaps against exactly that. */
export interface LedgerRead {
  readonly ledger: SubnetLedger;
  /** The stored directory; undefined when nothing is stored in parts yet. */
  readonly directory?: DirectoryDocument | undefined;
  /** Every stored part object (of any UID) when read. */
  readonly objects: OverlayMap<string, PartObject>;
  /** Read from the subnet's status (how ledgers were kept before parts): every claim in it already counts. */
  readonly imported: boolean;
}

interface SubnetParts {
  /** Stored parts by key, of any UID (a subnet deleted and created again leaves older ones until released). */
  objects: OverlayMap<string, PartObject>;
  /** Keys that changed since `view` was built. */
  readonly dirty: Set<string>;
  view?: { uid: string; family: Family; ledger: SubnetLedger; directory: DirectoryDocument; registered: ReadonlySet<string> };
}

const where = (subnet: string, key: string): string => `ConfigMap ${partObjectName(subnet, key)}`;
type View = NonNullable<SubnetParts["view"]>;

/** How ledgers were kept before parts: in the subnet's `status.controlledIPPools`. */
function legacyLedger(subnet: SpiderSubnet, family: Family): SubnetLedger {
  return SubnetLedger.decode(family, subnet.status?.controlledIPPools, `SpiderSubnet "${subnet.metadata.name}" status.controlledIPPools`);
}

/** A subnet's whole ledger from its directory object and, through `partOf`, each registered block's claims. */
function buildView(name: string, uid: string, family: Family, dir: PartObject, partOf: (d: DirectoryDocument, key: string) => LedgerPart | undefined): View {
  const directory = decodeDirectory(family, dir.text, where(name, DIRECTORY));
  const parts = new Map(directory.blocks.map((b) => [blockKey(b), partOf(directory, blockKey(b))] as const));
  return { uid, family, directory, registered: new Set(parts.keys()), ledger: SubnetLedger.stored(family, directory.pools, directory.blocks, parts) };
}

/**
 * `subnet`'s ledger from its part objects as listed (for a one-off reader: a test, a tool);
 * from its status when nothing is stored in parts yet.
 */
export function ledgerOfObjects(subnet: SpiderSubnet, family: Family, objects: readonly PartObject[]): SubnetLedger {
  const name = subnet.metadata.name as string;
  const mine = new Map(objects.filter((p) => p.subnet === name && p.uid === subnet.metadata.uid).map((p) => [p.key, p] as const));
  const dir = mine.get(DIRECTORY);
  if (!dir) return legacyLedger(subnet, family);
  const partOf = (d: DirectoryDocument, key: string): LedgerPart | undefined => {
    const p = mine.get(key);
    return d.pending.get(key) ?? (p && LedgerPart.parse(family, p.text, where(name, key)));
  };
  return buildView(name, subnet.metadata.uid as string, family, dir, partOf).ledger;
}

const numeric = (rv: string): bigint | undefined => (/^\d+$/.test(rv) ? BigInt(rv) : undefined);

export class SubnetLedgerParts {
  private readonly cache: WatchCache<k8s.V1ConfigMap>;
  private readonly subnets = new Map<string, SubnetParts>();
  private readonly parsed = new WeakMap<PartObject, LedgerPart>();
  private readonly listeners = new Set<(subnet: string) => void>();

  constructor(
    kc: k8s.KubeConfig,
    private readonly o: { core: k8s.CoreV1Api; namespace: string },
  ) {
    this.cache = new WatchCache<k8s.V1ConfigMap>(kc, {
      path: `/api/v1/namespaces/${o.namespace}/configmaps`,
      labelSelector: LEDGER_LABEL,
      list: () => o.core.listNamespacedConfigMap({ namespace: o.namespace, labelSelector: LEDGER_LABEL }),
      onChange: (before, after) => this.seen(before, after),
    });
  }

  /** Lists the stored parts; resolves once they are in the cache. */
  start(): Promise<void> {
    return this.cache.start();
  }

  stop(): Promise<void> {
    return this.cache.stop();
  }

  /** Calls `listener` with a subnet's name whenever its stored ledger changes. */
  onChange(listener: (subnet: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** True when the subnet's ledger is stored in parts (not only, from before parts, in its status). */
  stored(subnet: SpiderSubnet): boolean {
    return this.subnets.get(subnet.metadata.name as string)?.objects.get(DIRECTORY)?.uid === subnet.metadata.uid;
  }

  /**
   * `subnet`'s ledger as the cache has it. Nothing stored yet: its `status.controlledIPPools`
   * (how ledgers were kept before parts), with every part to be written.
   */
  read(subnet: SpiderSubnet, family: Family): LedgerRead {
    const name = subnet.metadata.name as string;
    const uid = subnet.metadata.uid as string;
    const s = this.entry(name);
    const dir = s.objects.get(DIRECTORY);
    if (!dir || dir.uid !== uid) {
      const legacy = subnet.status?.controlledIPPools;
      return { ledger: legacyLedger(subnet, family), objects: s.objects, imported: !!legacy && legacy !== "{}" };
    }
    const ledger = this.view(s, name, uid, family, dir);
    return { ledger, directory: s.view?.directory, objects: s.objects, imported: false };
  }

  private view(s: SubnetParts, name: string, uid: string, family: Family, dir: PartObject): SubnetLedger {
    if (!s.view || s.view.uid !== uid || s.view.family !== family) {
      s.view = buildView(name, uid, family, dir, (directory, key) => this.effective(s, uid, family, directory, key));
      s.dirty.clear();
      return s.view.ledger;
    }
    if (s.dirty.size === 0) return s.view.ledger;
    const view = s.view;
    const changes = new Map<string, LedgerPart | undefined>();
    let blocks: readonly bigint[] | undefined;
    if (s.dirty.has(DIRECTORY)) {
      const directory = decodeDirectory(family, dir.text, where(name, DIRECTORY));
      const registered = new Set(directory.blocks.map(blockKey));
      changes.set(DIRECTORY, directory.pools);
      const affected = new Set([...view.directory.pending.keys(), ...directory.pending.keys(), ...[...registered].filter((k) => !view.registered.has(k))]);
      for (const key of affected) changes.set(key, this.effective(s, uid, family, directory, key));
      blocks = directory.blocks;
      Object.assign(view, { directory, registered });
    }
    for (const key of s.dirty) {
      if (key !== DIRECTORY && view.registered.has(key) && !view.directory.pending.has(key)) changes.set(key, this.effective(s, uid, family, view.directory, key));
    }
    s.dirty.clear();
    view.ledger = view.ledger.withStoredChanges(changes, blocks);
    return view.ledger;
  }

  /**
   * Writes the parts `next` touched, each a compare-and-swap: the directory first (it
   * registers blocks), then the blocks' own objects. A 409 or 404 on any of them reads that
   * object afresh and is thrown as a 409, for the caller's loop to decide again; what was
   * written before it only over-claims, which the controller trims.
   */
  async write(subnet: SpiderSubnet, basis: LedgerRead, next: SubnetLedger): Promise<void> {
    const name = subnet.metadata.name as string;
    const uid = subnet.metadata.uid as string;
    const stored = basis.directory;
    const registered = new Set(stored?.blocks.map(blockKey) ?? []);
    const pending = new Map(stored?.pending ?? []);
    const own: string[] = [];
    const blocks = [...next.touched].filter((k) => k !== DIRECTORY);
    for (const key of blocks) {
      // The directory stays the authority for claims made before the block's own object has them.
      const moved = !registered.has(key) && !!stored && !stored.pools.held.intersection(blockSet(next.family, BigInt(`0x${key}`))).isEmpty;
      if (basis.imported || pending.has(key) || moved) pending.set(key, next.part(key));
      else own.push(key);
    }
    const directory: DirectoryDocument = { blocks: next.blocks, pools: next.part(DIRECTORY), pending };
    let dirVersion = basis.objects.get(DIRECTORY)?.resourceVersion;
    if (!stored || next.touched.has(DIRECTORY) || own.length < blocks.length) dirVersion = await this.put(name, uid, DIRECTORY, encodeDirectory(directory), dirVersion);
    for (const key of own) await this.put(name, uid, key, JSON.stringify(next.part(key).encode()), basis.objects.get(key)?.resourceVersion);
    const s = this.entry(name);
    s.view = { uid, family: next.family, ledger: next.asStored(), directory, registered: new Set(next.blocks.map(blockKey)) };
    for (const key of [DIRECTORY, ...own]) s.dirty.delete(key);
    if (pending.size) await this.materialise(name, uid, basis, dirVersion as string);
  }

  /** Deletes the stored parts of subnet `name` with UID `uid` (the subnet is gone). */
  async release(name: string, uid: string): Promise<void> {
    const s = this.subnets.get(name);
    for (const p of [...(s?.objects.values() ?? [])].filter((p) => p.uid === uid)) {
      try {
        await this.o.core.deleteNamespacedConfigMap({ name: partObjectName(name, p.key), namespace: this.o.namespace });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      if (s) s.objects = s.objects.without(p.key);
    }
    if (s?.view?.uid === uid) delete s.view;
  }

  /**
   * Moves the directory's pending blocks into their own objects: each is written with the
   * claims the directory holds for it, then the directory drops them in one compare-and-swap
   * on the version those claims were read from. Best effort: a conflict leaves them pending
   * (still authoritative) for the next write.
   */
  private async materialise(name: string, uid: string, basis: LedgerRead, dirVersion: string): Promise<void> {
    const view = this.entry(name).view;
    if (!view) return;
    try {
      for (const [key, part] of view.directory.pending) await this.put(name, uid, key, JSON.stringify(part.encode()), basis.objects.get(key)?.resourceVersion);
      const directory = { ...view.directory, pending: new Map<string, LedgerPart>() };
      await this.put(name, uid, DIRECTORY, encodeDirectory(directory), dirVersion);
      view.directory = directory;
      this.entry(name).dirty.delete(DIRECTORY);
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
  }

  /** Creates or replaces (compare-and-swap) one part object; records it as stored. */
  private async put(name: string, uid: string, key: string, text: string, resourceVersion: string | undefined): Promise<string> {
    const s = this.entry(name);
    const body = partBody(this.o.namespace, { subnet: name, uid, key, text, resourceVersion });
    let written: k8s.V1ConfigMap;
    try {
      written = resourceVersion
        ? await this.o.core.replaceNamespacedConfigMap({ name: partObjectName(name, key), namespace: this.o.namespace, body })
        : await this.o.core.createNamespacedConfigMap({ namespace: this.o.namespace, body });
    } catch (e) {
      if (!isConflict(e) && !isNotFound(e)) throw e;
      await this.reread(name, key);
      throw isConflict(e) ? e : new k8s.ApiException(409, `${where(name, key)} was deleted meanwhile`, "", {});
    }
    const p = partObjectOf(written) as PartObject;
    s.objects = s.objects.with(key, p);
    s.dirty.add(key); // until the view that wrote it takes it in
    return p.resourceVersion;
  }

  private async reread(name: string, key: string): Promise<void> {
    const s = this.entry(name);
    try {
      const p = partObjectOf(await this.o.core.readNamespacedConfigMap({ name: partObjectName(name, key), namespace: this.o.namespace }));
      s.objects = p ? s.objects.with(key, p) : s.objects.without(key);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      s.objects = s.objects.without(key);
    }
    s.dirty.add(key);
  }

  /** What block `key` holds: the directory's pending claims for it, else its own object's (of this UID). */
  private effective(s: SubnetParts, uid: string, family: Family, directory: DirectoryDocument, key: string): LedgerPart | undefined {
    const pending = directory.pending.get(key);
    if (pending) return pending;
    const p = s.objects.get(key);
    if (!p || p.uid !== uid) return undefined;
    let part = this.parsed.get(p);
    if (!part) {
      part = LedgerPart.parse(family, p.text, where(p.subnet, key));
      this.parsed.set(p, part);
    }
    return part;
  }

  private entry(name: string): SubnetParts {
    let s = this.subnets.get(name);
    if (!s) {
      s = { objects: OverlayMap.of([]), dirty: new Set() };
      this.subnets.set(name, s);
    }
    return s;
  }

  /** A watch event: taken in unless the cache already has this version or a newer one (its own write, seen first). */
  private seen(before: k8s.V1ConfigMap | undefined, after: k8s.V1ConfigMap | undefined): void {
    const p = partObjectOf((after ?? before) as k8s.V1ConfigMap);
    if (!p) return;
    const s = this.entry(p.subnet);
    const current = s.objects.get(p.key);
    if (after) {
      if (current?.resourceVersion === p.resourceVersion) return;
      const [had, got] = [numeric(current?.resourceVersion ?? ""), numeric(p.resourceVersion)];
      if (had !== undefined && got !== undefined && got < had) return;
      s.objects = s.objects.with(p.key, p);
    } else if (current?.resourceVersion === p.resourceVersion) {
      s.objects = s.objects.without(p.key);
    }
    s.dirty.add(p.key);
    for (const listener of this.listeners) listener(p.subnet);
  }
}
