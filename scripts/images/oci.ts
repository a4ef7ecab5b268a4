/**
 * Writes an OCI image archive (an image layout in one tar: oci-layout, index.json,
 * blobs/sha256/…) from a staged root filesystem, with no registry and no image tool: the
 * system `tar` makes the single uncompressed layer, node:crypto the digests.
 *
 * The index names the image twice per name: `io.containerd.image.name` (the full name, which
 * containerd's `ctr images import` uses as is) and `org.opencontainers.image.ref.name` (the
 * tag, which OCI tools and `ctr import --base-name` read). Several names share one manifest:
 * one index entry each.
 *
 * The same rootfs and config give the same digests: owners, names and mtimes are normalised
 * (`--numeric-owner --owner=0 --group=0 --mtime=@0`), entries sorted, `created` is the epoch.
 * @see https://github.com/opencontainers/image-spec/blob/main/image-layout.md
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export const MEDIA_TYPES = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar",
} as const;

export const IMAGE_NAME_ANNOTATION = "io.containerd.image.name";
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

/** The runtime part of an image config (the OCI config's `config` object). */
export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  /** `uid:gid` (numeric: the image need not resolve names). */
  user?: string;
}

export interface OciImage {
  /** Full references, e.g. `docker.io/library/nginx:latest`; the first is the main one. */
  names: string[];
  /** A folder holding the image's root filesystem as it should appear (modes included; owners become root). */
  rootfs: string;
  config: ImageConfig;
}

export interface WrittenArchive {
  path: string;
  /** The archive's size in bytes. */
  bytes: number;
  manifestDigest: string;
  /** The layer's digest, also its diff_id (the layer is uncompressed). */
  layerDigest: string;
  layerBytes: number;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** Flags that make GNU tar's output depend on file contents, modes and names only. */
export const DETERMINISTIC_TAR = ["--format=gnu", "--numeric-owner", "--owner=0", "--group=0", "--sort=name", "--mtime=@0"];

/** `sha256:<hex>` of a file, streamed. */
export async function fileDigest(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}

function bytesDigest(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** The tag of a reference (`latest` when none is given); digests are not supported. */
export function tagOf(name: string): string {
  if (name.includes("@")) throw new Error(`image name ${name} holds a digest; give a name with a tag`);
  const last = name.slice(name.lastIndexOf("/") + 1);
  const colon = last.lastIndexOf(":");
  return colon === -1 ? "latest" : last.slice(colon + 1);
}

/** Writes `data` as a blob under `dir`/blobs/sha256 and returns its descriptor. */
async function writeBlob(dir: string, mediaType: string, data: Buffer): Promise<Descriptor> {
  const digest = bytesDigest(data);
  const file = path.join(dir, "blobs", "sha256", digest.slice("sha256:".length));
  await writeFile(file, data);
  await chmod(file, 0o644);
  return { mediaType, digest, size: data.length };
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** The OCI image config: linux/amd64, one layer, the runtime settings in Docker's capitalised keys. */
export function imageConfigJson(config: ImageConfig, diffId: string): Buffer {
  const runtime: Record<string, unknown> = {};
  if (config.user !== undefined) runtime.User = config.user;
  if (config.env !== undefined) runtime.Env = config.env;
  if (config.entrypoint !== undefined) runtime.Entrypoint = config.entrypoint;
  if (config.cmd !== undefined) runtime.Cmd = config.cmd;
  if (config.workingDir !== undefined) runtime.WorkingDir = config.workingDir;
  return json({
    created: "1970-01-01T00:00:00Z",
    architecture: "amd64",
    os: "linux",
    config: runtime,
    rootfs: { type: "layers", diff_ids: [diffId] },
    history: [{ created: "1970-01-01T00:00:00Z", created_by: "pinpool scripts/images (OCI archive writer)" }],
  });
}

/**
 * Tars `image.rootfs` into one layer and writes the archive to `out` (via a temporary file
 * beside it, renamed at the end, so a reader never sees half an archive).
 */
export async function writeOciArchive(image: OciImage, out: string): Promise<WrittenArchive> {
  if (image.names.length === 0) throw new Error("an OCI archive needs at least one image name");
  const names = image.names.map((n) => ({ name: n, tag: tagOf(n) }));
  await mkdir(path.dirname(out), { recursive: true });
  const work = await mkdtemp(path.join(path.dirname(out), `.${path.basename(out)}.work-`));
  try {
    const blobs = path.join(work, "layout", "blobs", "sha256");
    await mkdir(blobs, { recursive: true });
    await chmod(path.join(work, "layout"), 0o755);
    await chmod(path.join(work, "layout", "blobs"), 0o755);
    await chmod(blobs, 0o755);

    // The top-level entries by name, not ".": a "./" entry would carry the staging folder's
    // mode (mkdtemp's 0700) onto the container's "/".
    const top = (await readdir(image.rootfs)).sort();
    if (top.length === 0) throw new Error(`the rootfs ${image.rootfs} is empty`);
    const layerFile = path.join(work, "layer.tar");
    await run("tar", [...DETERMINISTIC_TAR, "-C", image.rootfs, "-cf", layerFile, "--", ...top], { maxBuffer: 16 << 20 });
    const layerDigest = await fileDigest(layerFile);
    const layerBytes = (await stat(layerFile)).size;
    await rename(layerFile, path.join(blobs, layerDigest.slice("sha256:".length)));
    await chmod(path.join(blobs, layerDigest.slice("sha256:".length)), 0o644);
    const layer: Descriptor = { mediaType: MEDIA_TYPES.layer, digest: layerDigest, size: layerBytes };

    const layout = path.join(work, "layout");
    const config = await writeBlob(layout, MEDIA_TYPES.config, imageConfigJson(image.config, layerDigest));
    const manifest = await writeBlob(layout, MEDIA_TYPES.manifest, json({ schemaVersion: 2, mediaType: MEDIA_TYPES.manifest, config, layers: [layer] }));
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.index,
      manifests: names.map(({ name, tag }) => ({
        ...manifest,
        platform: { architecture: "amd64", os: "linux" },
        annotations: { [IMAGE_NAME_ANNOTATION]: name, [REF_NAME_ANNOTATION]: tag },
      })),
    };
    await writeFile(path.join(layout, "index.json"), json(index));
    await writeFile(path.join(layout, "oci-layout"), json({ imageLayoutVersion: "1.0.0" }));
    await chmod(path.join(layout, "index.json"), 0o644);
    await chmod(path.join(layout, "oci-layout"), 0o644);

    const partial = path.join(work, "archive.tar");
    await run("tar", [...DETERMINISTIC_TAR, "-C", layout, "-cf", partial, "oci-layout", "index.json", "blobs"]);
    await rename(partial, out);
    return { path: out, bytes: (await stat(out)).size, manifestDigest: manifest.digest, layerDigest, layerBytes };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
