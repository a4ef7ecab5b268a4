/**
 * The subnet ledgers' stored parts (ledger-objects.ts), followed by one watch, and their
 * writes. A ledger is read from the cache, so reading costs what changed since the last
 * read, not the ledger's size. The cache may lag: every write is a compare-and-swap on the
 * resourceVersion the ledger as read reflects (a create where it reflected nothing), so a
 * stale read costs a 409, after which the object is read afresh, never a claim decided on
 * state that changed.
 *
 * Which object decides an address: a registered block's own part, else the directory. A
 * block is registered by a write of the directory, then its part is created; until the part
 * is there the block is held closed (SubnetLedger's `missing`), so the gap between the two
 * writes, or a part deleted by hand, withholds addresses and never hands them out twice.
 */
import * as k8s from "@kubernetes/client-node";
import type { SpiderSubnet } from "../api/types.js";
import type { Family } from "../ip/address.js";
import { isConflict, isNotFound } from "../k8s/errors.js";
import { WatchCache } from "../k8s/watch-cache.js";
import { LedgerFormatError } from "./ledger.js";
import { DIRECTORY, LedgerPart, blockKey } from "./ledger-part.js";
import { LEDGER_LABEL, LEGACY_MARK, type PartObject, decodeDirectory, encodeDirectory, partBody, partObjectName, partObjectOf } from "./ledger-objects.js";
import { OverlayMap } from "./overlay-map.js";
import { type LedgerView, buildView, legacyLedger, partObject } from "./ledger-view.js";
import type { SubnetLedger } from "./subnet-ledger.js";

/** A ledger as read, with the versions of the objects it reflects: a write compares-and-swaps against exactly those. */
export interface LedgerRead {
  readonly ledger: SubnetLedger;
  /** The registered blocks as read (empty when nothing is stored yet). */
  readonly registered: ReadonlySet<string>;
  /** By part key, the resourceVersion the ledger reflects; absent: no object of this subnet's UID. */
  readonly versions: OverlayMap<string, string>;
  /** Every part object cached when read, of any UID: one of an older subnet of the same name is replaced at its version. */
  readonly objects: OverlayMap<string, PartObject>;
}

interface SubnetParts {
  /** Stored parts by key, of any UID (a subnet deleted and created again leaves older ones until released). */
  objects: OverlayMap<string, PartObject>;
  /** Keys whose object changed since `view` was built. */
  readonly dirty: Set<string>;
  view?: LedgerView;
}

const numeric = (rv: string | undefined): bigint | undefined => (rv !== undefined && /^\d+$/.test(rv) ? BigInt(rv) : undefined);
/** True when version `a` is older than `b` (the API server's versions are etcd revisions: numbers). */
const older = (a: string | undefined, b: string | undefined): boolean => {
  const [x, y] = [numeric(a), numeric(b)];
  return x !== undefined && y !== undefined && x < y;
};

export class SubnetLedgerParts {
  private readonly cache: WatchCache<k8s.V1ConfigMap>;
  private readonly subnets = new Map<string, SubnetParts>();
  private readonly parsed = new WeakMap<PartObject, LedgerPart>();
  private readonly listeners = new Set<(subnet: string) => void>();

  constructor(
    kc: k8s.KubeConfig,
    private readonly o: { core: k8s.CoreV1Api; namespace: string; onWatchError?: (e: unknown) => void },
  ) {
    this.cache = new WatchCache<k8s.V1ConfigMap>(kc, {
      path: `/api/v1/namespaces/${o.namespace}/configmaps`,
      labelSelector: LEDGER_LABEL,
      list: () => o.core.listNamespacedConfigMap({ namespace: o.namespace, labelSelector: LEDGER_LABEL }),
      onChange: (before, after) => this.seen(before, after),
      ...(o.onWatchError ? { onError: o.onWatchError } : {}),
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
   * (how ledgers were kept before parts), with every part to be written. Throws when the
   * parts are there but their directory is not: who holds what cannot be told.
   */
  read(subnet: SpiderSubnet, family: Family, { rebuilding = false }: { rebuilding?: boolean } = {}): LedgerRead {
    const name = subnet.metadata.name as string;
    const uid = subnet.metadata.uid as string;
    const s = this.entry(name);
    const dir = s.objects.get(DIRECTORY);
    if (!dir || dir.uid !== uid) {
      const orphans = [...s.objects.values()].filter((p) => p.uid === uid).map((p) => partObjectName(name, p.key));
      if (orphans.length) {
        throw new LedgerFormatError(
          `SpiderSubnet "${name}"'s ledger directory ${partObject(name, DIRECTORY)} in ${this.o.namespace} is missing while ${orphans.length} of its parts are there (${orphans.slice(0, 3).join(", ")}); delete those too (kubectl delete cm -n ${this.o.namespace} ${orphans.join(" ")}) and the controller's sweep rebuilds the ledger from the stored pools`,
        );
      }
      // Stored in parts once (the status says so), none there now: lost, not empty. Only the
      // sweep, which rebuilds it from every stored pool at once, may write it.
      if (subnet.status?.controlledIPPools === LEGACY_MARK && !rebuilding) {
        throw new LedgerFormatError(`SpiderSubnet "${name}"'s ledger (ConfigMaps ${partObjectName(name, "*")} in ${this.o.namespace}) is gone; the controller's sweep rebuilds it from the stored pools within a resync, and admissions on this subnet wait for that`);
      }
      return { ledger: legacyLedger(subnet, family), registered: new Set(), versions: OverlayMap.of([]), objects: s.objects };
    }
    const view = this.view(s, name, uid, family, dir);
    return { ledger: view.ledger, registered: view.registered, versions: view.versions, objects: s.objects };
  }

  /**
   * Writes the parts `next` touched, each a compare-and-swap on the version `basis` reflects:
   * the directory first (it registers blocks), then the blocks' own parts. A 409 or 404
   * reads that object afresh and is thrown as a 409, for the caller's loop to decide again;
   * what was written before it only over-claims, which the controller trims.
   */
  async write(subnet: SpiderSubnet, basis: LedgerRead, next: SubnetLedger): Promise<void> {
    const name = subnet.metadata.name as string;
    const uid = subnet.metadata.uid as string;
    const blocks = [...next.touched].filter((k) => k !== DIRECTORY);
    for (const key of blocks) {
      if (basis.registered.has(key) && !basis.versions.has(key)) {
        throw new LedgerFormatError(`SpiderSubnet "${name}"'s ledger part ${partObject(name, key)} is registered but missing; the controller's sweep rebuilds it from the stored pools`);
      }
    }
    // A registered block's part as reflected; an unregistered block's object (another UID's,
    // or this one's left by a write whose directory did not land) decides nothing: replaced.
    const version = (key: string): string | undefined => basis.versions.get(key) ?? basis.objects.get(key)?.resourceVersion;
    const fresh = blocks.filter((k) => !basis.registered.has(k));
    const written = new Set<string>();
    let registering = fresh.length > 0;
    try {
      if (next.touched.has(DIRECTORY) || !basis.versions.has(DIRECTORY)) {
        await this.put(name, uid, DIRECTORY, encodeDirectory({ blocks: next.blocks, pools: next.part(DIRECTORY) }), version(DIRECTORY)).catch((e: unknown) => {
          if (isConflict(e)) registering = false; // the directory did not change: nothing registered
          throw e;
        });
      }
      // The blocks this write registered first: until its part is there a block is held closed.
      for (const key of [...fresh, ...blocks.filter((k) => basis.registered.has(k))]) {
        await this.put(name, uid, key, JSON.stringify(next.part(key).encode()), version(key));
        written.add(key);
      }
    } catch (e) {
      if (registering) await this.openRegistered(name, uid, fresh.filter((k) => !written.has(k)), next);
      throw e;
    }
  }

  /**
   * After a failed write, the blocks it registered whose part it did not write: each is
   * created with what this write meant to store there (the claims it held as read, and at
   * worst its own new ones: an over-claim the controller trims), so it is not held closed for
   * ever. Only blocks the directory, read afresh, registers; and only where there is no part
   * of this subnet yet: one there was written by someone who saw the block registered.
   */
  private async openRegistered(name: string, uid: string, keys: readonly string[], next: SubnetLedger): Promise<void> {
    try {
      await this.reread(name, DIRECTORY);
      const dir = this.entry(name).objects.get(DIRECTORY);
      if (!dir || dir.uid !== uid) return;
      const registered = new Set(decodeDirectory(next.family, dir.text, partObject(name, DIRECTORY)).blocks.map(blockKey));
      for (const key of keys.filter((k) => registered.has(k))) {
        await this.reread(name, key);
        const current = this.entry(name).objects.get(key);
        if (current?.uid === uid) continue;
        await this.put(name, uid, key, JSON.stringify(next.part(key).encode()), current?.resourceVersion);
      }
    } catch {
      // Best effort: a block left closed withholds its addresses, it never hands them out twice.
    }
  }

  /** Reads the directory afresh into the cache (a read that must not take a lagging cache's word that it is gone). */
  refreshDirectory(name: string): Promise<void> {
    return this.reread(name, DIRECTORY);
  }

  /** Deletes the stored parts of subnet `name` with UID `uid` (the subnet is gone). */
  async release(name: string, uid: string): Promise<void> {
    const s = this.subnets.get(name);
    for (const p of [...(s?.objects.values() ?? [])].filter((p) => p.uid === uid)) {
      try {
        // Only the version this cache saw: a newer one (a subnet of the same name since) stays.
        await this.o.core.deleteNamespacedConfigMap({ name: partObjectName(name, p.key), namespace: this.o.namespace, body: { preconditions: { resourceVersion: p.resourceVersion, uid: p.objectUid } } });
      } catch (e) {
        if (!isNotFound(e) && !isConflict(e)) throw e;
      }
    }
  }

  private view(s: SubnetParts, name: string, uid: string, family: Family, dir: PartObject): LedgerView {
    const same = (key: string): PartObject | undefined => {
      const p = s.objects.get(key);
      return p?.uid === uid ? p : undefined;
    };
    const current = s.view;
    if (!current || current.uid !== uid || current.family !== family) {
      s.dirty.clear();
      s.view = buildView(name, uid, family, dir, { partOf: same, parse: (p) => this.parse(family, p) });
      return s.view;
    }
    if (s.dirty.size === 0) return current;
    const dirty = new Set(s.dirty);
    let { directory, registered, versions } = current;
    let blocks: readonly bigint[] | undefined;
    const changes = new Map<string, LedgerPart | undefined>();
    if (dir.resourceVersion !== versions.get(DIRECTORY)) {
      directory = decodeDirectory(family, dir.text, partObject(name, DIRECTORY));
      blocks = directory.blocks;
      const was = registered;
      registered = new Set(directory.blocks.map(blockKey));
      changes.set(DIRECTORY, directory.pools);
      versions = versions.with(DIRECTORY, dir.resourceVersion);
      for (const key of registered) if (!was.has(key)) dirty.add(key);
      // A block the directory no longer lists (a hand edit) is nobody's any more: its part goes from the view.
      for (const key of was) {
        if (registered.has(key)) continue;
        changes.set(key, undefined);
        versions = versions.without(key);
      }
    }
    for (const key of dirty) {
      if (key === DIRECTORY || !registered.has(key)) continue;
      const p = same(key);
      if (current.registered.has(key) && p?.resourceVersion === versions.get(key)) continue;
      changes.set(key, p && this.parse(family, p));
      versions = p ? versions.with(key, p.resourceVersion) : versions.without(key);
    }
    // Everything parsed before anything is kept: a part that does not parse leaves the view as it was.
    const ledger = current.ledger.withStoredChanges(changes, blocks);
    s.view = { uid, family, ledger, directory, registered, versions };
    s.dirty.clear();
    return s.view;
  }

  private parse(family: Family, p: PartObject): LedgerPart {
    let part = this.parsed.get(p);
    if (!part) {
      part = LedgerPart.parse(family, p.text, partObject(p.subnet, p.key));
      this.parsed.set(p, part);
    }
    return part;
  }

  /** Creates or replaces (compare-and-swap on `resourceVersion`) one part object; records it. */
  private async put(name: string, uid: string, key: string, text: string, resourceVersion: string | undefined): Promise<void> {
    const body = partBody(this.o.namespace, { subnet: name, uid, key, text, resourceVersion });
    let written: k8s.V1ConfigMap;
    try {
      written = resourceVersion
        ? await this.o.core.replaceNamespacedConfigMap({ name: partObjectName(name, key), namespace: this.o.namespace, body })
        : await this.o.core.createNamespacedConfigMap({ namespace: this.o.namespace, body });
    } catch (e) {
      // A 404 on a replace: the object went (a release, a hand) since it was read; on a create it means the namespace is missing.
      const gone = isNotFound(e) && !!resourceVersion;
      if (!isConflict(e) && !gone) throw e;
      await this.reread(name, key);
      throw isConflict(e) ? e : new k8s.ApiException(409, `${partObject(name, key)} in ${this.o.namespace} was deleted meanwhile`, "", {});
    }
    this.record(partObjectOf(written));
  }

  private async reread(name: string, key: string): Promise<void> {
    try {
      this.record(partObjectOf(await this.o.core.readNamespacedConfigMap({ name: partObjectName(name, key), namespace: this.o.namespace })));
    } catch (e) {
      if (!isNotFound(e)) throw e;
      const s = this.entry(name);
      s.objects = s.objects.without(key);
      s.dirty.add(key);
    }
  }

  /** Takes in a part as read or written, unless the cache has a newer version of it. */
  private record(p: PartObject | undefined): void {
    if (!p) return;
    const s = this.entry(p.subnet);
    const current = s.objects.get(p.key);
    if (current?.resourceVersion === p.resourceVersion || older(p.resourceVersion, current?.resourceVersion)) return;
    s.objects = s.objects.with(p.key, p);
    s.dirty.add(p.key);
    for (const listener of this.listeners) listener(p.subnet);
  }

  private entry(name: string): SubnetParts {
    let s = this.subnets.get(name);
    if (!s) {
      s = { objects: OverlayMap.of([]), dirty: new Set() };
      this.subnets.set(name, s);
    }
    return s;
  }

  /** A watch event. */
  private seen(before: k8s.V1ConfigMap | undefined, after: k8s.V1ConfigMap | undefined): void {
    if (after) return this.record(partObjectOf(after));
    const p = before && partObjectOf(before);
    if (!p) return;
    const s = this.entry(p.subnet);
    if (older(s.objects.get(p.key)?.resourceVersion, p.resourceVersion) || s.objects.get(p.key)?.resourceVersion === p.resourceVersion) {
      s.objects = s.objects.without(p.key);
      s.dirty.add(p.key);
      for (const listener of this.listeners) listener(p.subnet);
    }
  }
}
