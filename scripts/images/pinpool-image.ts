/**
 * pinpool's own image, `ghcr.io/pinpool/pinpool:<package.json version>` (controller, agent,
 * CNI plugin, Node.js runtime), laid out as the Dockerfile's final stage; written to
 * .cluster/images and rebuilt only when its inputs change.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, copyFile, cp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { type ImageConfig, fileDigest, writeOciArchive } from "./oci.js";
import { BUSYBOX, type BuiltImage, addBusybox, clusterDir, exec, mkdirs, need, needBusybox, repoRoot, withWorkDir, writeText } from "./stage.js";

/** Every file under `dir`, relative, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** The shared libraries and loader `ldd` lists for `binary` (absolute paths). */
async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await exec("ldd", [binary]);
  if (/not found/.test(stdout)) throw new Error(`ldd ${binary}: a library is not found:\n${stdout}`);
  return [...stdout.matchAll(/(\/\S+) \(0x[0-9a-f]+\)/g)].map((m) => m[1] as string);
}

async function npm(args: string[], cwd: string): Promise<void> {
  await exec("npm", args, { cwd, maxBuffer: 64 << 20 }).catch((e: { stdout?: string; stderr?: string }) => {
    throw new Error(`npm ${args.join(" ")} failed in ${cwd}:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  });
}

interface PinpoolInputs {
  version: string;
  node: string;
  libraries: string[];
  plugin: string;
}

/** Adds every file under `dir` (relative name and content) to `h`. */
async function hashTree(h: ReturnType<typeof createHash>, dir: string): Promise<void> {
  for (const rel of await filesUnder(dir)) h.update(`${path.relative(repoRoot, path.join(dir, rel))}\0`).update(await readFile(path.join(dir, rel)));
}

/** What the image holds besides dist/src and the plugin: node, its libraries, busybox, the lockfile, this builder. */
async function pinpoolInputs(): Promise<PinpoolInputs & { digests: string }> {
  const pkg = JSON.parse(await readFile(path.join(repoRoot, "package.json"), "utf8")) as { version: string };
  const node = process.execPath;
  const libraries = await sharedLibraries(node);
  const files = [node, ...libraries, BUSYBOX, "package.json", "package-lock.json", "scripts/images/build.ts", "scripts/images/oci.ts", "scripts/images/stage.ts", "scripts/images/pinpool-image.ts"];
  let digests = "";
  for (const f of files) digests += `${f}\0${await fileDigest(path.resolve(repoRoot, f))}\0`;
  return { version: pkg.version, node, libraries, plugin: path.join(repoRoot, "dist/cni/pinpool"), digests };
}

/** What the archive beside it was built from: its sources (src/, tsconfig) and its contents (dist/src, the plugin). */
interface PinpoolStamp {
  sources: string;
  image: string;
}

async function readStamp(file: string): Promise<PinpoolStamp | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as PinpoolStamp;
  } catch {
    return undefined;
  }
}

/** /etc for root and the 65532 (nonroot) user the controller runs as. */
async function addEtc(rootfs: string): Promise<void> {
  const etc = await mkdirs(rootfs, "etc");
  await writeText(path.join(etc, "passwd"), "root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n", 0o644);
  await writeText(path.join(etc, "group"), "root:x:0:\nnonroot:x:65532:\n", 0o644);
  // glibc's lookups: files first (kubelet mounts /etc/hosts), then DNS.
  await writeText(path.join(etc, "nsswitch.conf"), "passwd: files\ngroup: files\nhosts: files dns\n", 0o644);
}

/** The same layout as the Dockerfile's final stage; keep the two alike. */
async function stagePinpool(rootfs: string, inputs: PinpoolInputs): Promise<void> {
  const app = await mkdirs(rootfs, "app");
  await copyFile(path.join(repoRoot, "package.json"), path.join(app, "package.json"));
  await copyFile(path.join(repoRoot, "package-lock.json"), path.join(app, "package-lock.json"));
  await npm(["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"], app);
  await rm(path.join(app, "package-lock.json")); // the Dockerfile's final stage has package.json only
  await mkdirs(app, "dist");
  await cp(path.join(repoRoot, "dist/src"), path.join(app, "dist/src"), { recursive: true });
  await copyFile(inputs.plugin, path.join(await mkdirs(rootfs, "opt/pinpool/bin"), "pinpool"));
  await chmod(path.join(rootfs, "opt/pinpool/bin/pinpool"), 0o755);
  await copyFile(inputs.node, path.join(await mkdirs(rootfs, "usr/local/bin"), "node"));
  await chmod(path.join(rootfs, "usr/local/bin/node"), 0o755);
  // The libraries at the paths ldd printed (the loader's default search path finds them
  // there; there is no ld.so.cache). copyFile follows symlinks, so each is a real file.
  for (const lib of inputs.libraries) await copyFile(lib, path.join(await mkdirs(rootfs, path.dirname(lib)), path.basename(lib)));
  // sh, cp and mv: the agent's init container runs `sh -c "cp … && mv …"`.
  await addBusybox(rootfs, ["cp", "mv", "sh"]);
  await chmod(await mkdirs(rootfs, "tmp"), 0o1777);
  await addEtc(rootfs);
}

export const PINPOOL_CONFIG: ImageConfig = {
  env: ["PATH=/usr/local/bin:/usr/bin:/bin", "NODE_ENV=production"],
  workingDir: "/app",
  user: "65532:65532",
  cmd: ["node", "dist/src/controller/main.js"],
};

/**
 * Reuses the archive when src/ is unchanged since it was built (no compile at all), or when
 * the freshly built dist/src and plugin equal what it holds; else builds it.
 */
export async function buildPinpool(): Promise<BuiltImage> {
  await needBusybox();
  const t = Date.now();
  const inputs = await pinpoolInputs();
  const name = `ghcr.io/pinpool/pinpool:${inputs.version}`;
  const out = path.join(clusterDir, "images", `pinpool-${inputs.version}.tar`);
  const stampFile = `${out}.inputs`;
  const stamp = existsSync(out) ? await readStamp(stampFile) : undefined;
  const result = async (built: boolean): Promise<BuiltImage> => ({ kind: "pinpool", names: [name], path: out, bytes: (await stat(out)).size, built, seconds: (Date.now() - t) / 1000 });

  const sourceHash = createHash("sha256").update(inputs.digests).update(await readFile(path.join(repoRoot, "tsconfig.json")));
  await hashTree(sourceHash, path.join(repoRoot, "src"));
  const sources = sourceHash.digest("hex");
  if (stamp?.sources === sources) return result(false);

  await need("go", "the pinpool image holds the CNI plugin, built from src/cni (install Go)");
  await need("npm", "the pinpool image is built with npm (install Node.js 20 with npm)");
  // From scratch, as the Dockerfile does: tsc leaves the output of a deleted source behind.
  await rm(path.join(repoRoot, "dist/src"), { recursive: true, force: true });
  await npm(["run", "--silent", "build"], repoRoot);
  await npm(["run", "--silent", "build:cni"], repoRoot);
  const imageHash = createHash("sha256").update(inputs.digests).update(`plugin\0${await fileDigest(inputs.plugin)}\0`);
  await hashTree(imageHash, path.join(repoRoot, "dist/src"));
  const image = imageHash.digest("hex");
  const fresh = stamp?.image === image;
  if (!fresh) {
    await rm(stampFile, { force: true });
    await withWorkDir(out, async (work) => {
      const rootfs = await mkdirs(work, "rootfs");
      await stagePinpool(rootfs, inputs);
      await writeOciArchive({ names: [name], rootfs, config: PINPOOL_CONFIG }, out);
    });
  }
  await writeFile(stampFile, `${JSON.stringify({ sources, image } satisfies PinpoolStamp)}\n`);
  return result(!fresh);
}
