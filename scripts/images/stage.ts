/** What the image builders share: prerequisites, staging a rootfs, the cache rule. */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { constants, existsSync } from "node:fs";
import { access, chmod, copyFile, mkdir, mkdtemp, rm, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const exec = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../..");
/** As scripts/cluster/process.ts: the local cluster's state folder. */
export const clusterDir = process.env.PINPOOL_CLUSTER_DIR ?? path.join(repoRoot, ".cluster");
export const BUSYBOX = "/bin/busybox";

/** A prerequisite is absent: main prints the message (one sentence) and exits 1. */
export class MissingPrerequisite extends Error {}
/** A wrong argument: main prints the message and exits 1. */
export class UsageError extends Error {}

export interface BuiltImage {
  /** pause, app or pinpool. */
  kind: string;
  names: string[];
  path: string;
  bytes: number;
  built: boolean;
  seconds: number;
}

async function onPath(command: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? "").split(":").filter(Boolean)) {
    try {
      await access(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

/** Throws MissingPrerequisite with `why` unless `command` is on PATH. */
export async function need(command: string, why: string): Promise<void> {
  if (!(await onPath(command))) throw new MissingPrerequisite(`${command} is missing: ${why}.`);
}

/** The static busybox from Debian's busybox-static, or MissingPrerequisite. */
export async function needBusybox(): Promise<void> {
  const install = "install Debian's busybox-static (bash scripts/cluster/deps.sh, or apt-get install -y --no-install-recommends busybox-static)";
  if (!existsSync(BUSYBOX)) throw new MissingPrerequisite(`${BUSYBOX} is missing: the app and pinpool images take their shell and httpd from it; ${install}.`);
  // A dynamically linked busybox (Debian's `busybox` package) cannot run in an image without its libc.
  const dynamic = await exec("ldd", [BUSYBOX]).then(
    () => true,
    () => false,
  );
  if (dynamic) throw new MissingPrerequisite(`${BUSYBOX} is dynamically linked, so it cannot run alone in an image; ${install}.`);
}

/** `1.35.0-4+deb12u1+b1` from Debian's banner, else the upstream version, as a file-name part. */
export async function busyboxVersion(): Promise<string> {
  const { stdout } = await exec(BUSYBOX, ["--help"]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? "" }));
  const m = /BusyBox v(\S+)(?: \(Debian (?:\d+:)?([^)]+)\))?/.exec(stdout);
  if (!m?.[1]) throw new Error(`cannot read the version from ${BUSYBOX} --help`);
  return (m[2] ?? m[1]).replace(/[^A-Za-z0-9.+_-]/g, "_");
}

export function sha256(...parts: (string | Buffer)[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex");
}

/** Installs busybox at /bin/busybox in `rootfs` with `applets` as symlinks beside it. */
export async function addBusybox(rootfs: string, applets: readonly string[]): Promise<void> {
  await mkdir(path.join(rootfs, "bin"), { recursive: true });
  await copyFile(BUSYBOX, path.join(rootfs, "bin/busybox"));
  await chmod(path.join(rootfs, "bin/busybox"), 0o755);
  for (const applet of applets) await symlink("busybox", path.join(rootfs, "bin", applet));
}

/** Creates the folders of `rel` under `rootfs`, each 0755 whatever the umask. */
export async function mkdirs(rootfs: string, rel: string): Promise<string> {
  let dir = rootfs;
  for (const part of rel.split("/").filter(Boolean)) {
    dir = path.join(dir, part);
    if (!existsSync(dir)) {
      await mkdir(dir);
      await chmod(dir, 0o755);
    }
  }
  return dir;
}

export async function writeText(file: string, text: string, mode: number): Promise<void> {
  await writeFile(file, text);
  await chmod(file, mode);
}

/** A work folder beside `out` (same filesystem, not a possibly small /tmp), removed afterwards. */
export async function withWorkDir<T>(out: string, body: (dir: string) => Promise<T>): Promise<T> {
  await mkdir(path.dirname(out), { recursive: true });
  const dir = await mkdtemp(path.join(path.dirname(out), ".stage-"));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Reuses `out` if it exists; else builds it. */
export async function cached(kind: string, names: string[], out: string, build: () => Promise<void>): Promise<BuiltImage> {
  const t = Date.now();
  const fresh = existsSync(out);
  if (!fresh) await build();
  return { kind, names, path: out, bytes: (await stat(out)).size, built: !fresh, seconds: (Date.now() - t) / 1000 };
}
