/**
 * Builds the images a real node runs, as OCI archives for `ctr -n k8s.io images import` (no
 * image registry is reachable from these machines):
 *
 * - pause: `registry.k8s.io/pause:<PAUSE_VERSION>`, Kubernetes' own pause.c compiled static;
 *   cached in $PINPOOL_CACHE/images (built once).
 * - app: `docker.io/library/nginx:latest` and `pinpool.local/httpd:1`, a static busybox
 *   serving a page with its pod's IPv4 address and hostname on :80 (so the seed's
 *   `image: nginx` runs unchanged); cached in $PINPOOL_CACHE/images by busybox version and
 *   a hash of its script.
 * - pinpool: `ghcr.io/pinpool/pinpool:<package.json version>` (controller, agent, CNI
 *   plugin, Node.js runtime), laid out as the Dockerfile's final stage; written to
 *   .cluster/images and rebuilt only when its inputs (dist/src, the plugin, the lockfile,
 *   node) change. When src/ has not changed since, nothing is compiled (about 1 s).
 *
 * Prints one line per image; exits non-zero with one sentence when a prerequisite (gcc, go,
 * busybox-static, tar) is missing. Run with `npm run images`.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { constants, existsSync } from "node:fs";
import { access, chmod, copyFile, cp, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type ImageConfig, fileDigest, writeOciArchive } from "./oci.js";

const exec = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../..");
/** As scripts/cluster/process.ts: the local cluster's state folder. */
const clusterDir = process.env.PINPOOL_CLUSTER_DIR ?? path.join(repoRoot, ".cluster");
const BUSYBOX = "/bin/busybox";

/** A prerequisite is absent: main prints the message (one sentence) and exits 1. */
export class MissingPrerequisite extends Error {}
/** A wrong argument: main prints the message and exits 1. */
class UsageError extends Error {}

export interface BuiltImage {
  /** pause, app or pinpool. */
  kind: string;
  names: string[];
  path: string;
  bytes: number;
  built: boolean;
  seconds: number;
}

export interface Versions {
  k8s: string;
  pause: string;
  cache: string;
}

/** K8S_VERSION, PAUSE_VERSION and PINPOOL_CACHE as scripts/cluster/versions.sh sets them. */
async function versions(): Promise<Versions> {
  const script = `source "${path.join(repoRoot, "scripts/cluster/versions.sh")}"; echo "$K8S_VERSION"; echo "$PAUSE_VERSION"; echo "$PINPOOL_CACHE"`;
  const { stdout } = await exec("bash", ["-c", script]);
  const [k8s, pause, cache] = stdout.trim().split("\n");
  if (!k8s || !pause || !cache) throw new Error(`scripts/cluster/versions.sh printed ${JSON.stringify(stdout)}; expected K8S_VERSION, PAUSE_VERSION, PINPOOL_CACHE`);
  return { k8s, pause, cache };
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
async function need(command: string, why: string): Promise<void> {
  if (!(await onPath(command))) throw new MissingPrerequisite(`${command} is missing: ${why}.`);
}

/** The static busybox from Debian's busybox-static, or MissingPrerequisite. */
async function needBusybox(): Promise<void> {
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
async function busyboxVersion(): Promise<string> {
  const { stdout } = await exec(BUSYBOX, ["--help"]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? "" }));
  const m = /BusyBox v(\S+)(?: \(Debian (?:\d+:)?([^)]+)\))?/.exec(stdout);
  if (!m?.[1]) throw new Error(`cannot read the version from ${BUSYBOX} --help`);
  return (m[2] ?? m[1]).replace(/[^A-Za-z0-9.+_-]/g, "_");
}

function sha256(...parts: (string | Buffer)[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex");
}

/** Installs busybox at /bin/busybox in `rootfs` with `applets` as symlinks beside it. */
async function addBusybox(rootfs: string, applets: readonly string[]): Promise<void> {
  await mkdir(path.join(rootfs, "bin"), { recursive: true });
  await copyFile(BUSYBOX, path.join(rootfs, "bin/busybox"));
  await chmod(path.join(rootfs, "bin/busybox"), 0o755);
  for (const applet of applets) await symlink("busybox", path.join(rootfs, "bin", applet));
}

/** Creates the folders of `rel` under `rootfs`, each 0755 whatever the umask. */
async function mkdirs(rootfs: string, rel: string): Promise<string> {
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

async function writeText(file: string, text: string, mode: number): Promise<void> {
  await writeFile(file, text);
  await chmod(file, mode);
}

/** A work folder beside `out` (same filesystem, not a possibly small /tmp), removed afterwards. */
async function withWorkDir<T>(out: string, body: (dir: string) => Promise<T>): Promise<T> {
  await mkdir(path.dirname(out), { recursive: true });
  const dir = await mkdtemp(path.join(path.dirname(out), ".stage-"));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Reuses `out` if it exists; else builds it. */
async function cached(kind: string, names: string[], out: string, build: () => Promise<void>): Promise<BuiltImage> {
  const t = Date.now();
  const fresh = existsSync(out);
  if (!fresh) await build();
  return { kind, names, path: out, bytes: (await stat(out)).size, built: !fresh, seconds: (Date.now() - t) / 1000 };
}

// ---------------------------------------------------------------------------------------
// pause

/** Kubernetes' pause.c for `k8sVersion`, downloading the module into the Go module cache if needed. */
async function pauseSource(k8sVersion: string): Promise<string> {
  const env = { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-modcacherw" };
  const modcache = (await exec("go", ["env", "GOMODCACHE"], { env })).stdout.trim();
  const src = path.join(modcache, `k8s.io/kubernetes@${k8sVersion}`, "build/pause/linux/pause.c");
  if (existsSync(src)) return src;
  // `go mod download` of a module needs a main module to run in: a scratch one.
  const scratch = await mkdtemp(path.join(os.tmpdir(), "pinpool-gomod-"));
  try {
    await writeFile(path.join(scratch, "go.mod"), "module local/pinpool-pause\n\ngo 1.22\n");
    await exec("go", ["mod", "download", "-json", `k8s.io/kubernetes@${k8sVersion}`], { cwd: scratch, env, maxBuffer: 16 << 20 });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  if (!existsSync(src)) throw new Error(`go mod download k8s.io/kubernetes@${k8sVersion} did not give ${src}`);
  return src;
}

export async function buildPause(v: Versions): Promise<BuiltImage> {
  const name = `registry.k8s.io/pause:${v.pause}`;
  const out = path.join(v.cache, "images", `pause-${v.pause}.tar`);
  return cached("pause", [name], out, async () => {
    await need("gcc", "the pause image is Kubernetes' pause.c compiled static (apt-get install gcc libc6-dev)");
    await need("go", "the pause image's source comes from the k8s.io/kubernetes module (install Go)");
    const src = await pauseSource(v.k8s);
    await withWorkDir(out, async (work) => {
      const rootfs = await mkdirs(work, "rootfs");
      await exec("gcc", ["-Os", "-static", "-DVERSION=local", "-o", path.join(rootfs, "pause"), src]);
      await chmod(path.join(rootfs, "pause"), 0o755);
      // As upstream's image: the nobody-like 65535, entrypoint /pause.
      await writeOciArchive({ names: [name], rootfs, config: { entrypoint: ["/pause"], user: "65535:65535", workingDir: "/" } }, out);
    });
  });
}

// ---------------------------------------------------------------------------------------
// app

/** The app image's entrypoint; `$` signs are the shell's. */
export const APP_SCRIPT = `#!/bin/sh
# pinpool's app image: serves a page naming this pod's IPv4 address and hostname on :80.
# Arguments, if given, run instead (args: [sleep, "3600"]).
[ "$#" -eq 0 ] || exec "$@"
# As PID 1 a shell ignores an untrapped TERM, and every pod deletion would wait out its
# grace period: exit at once.
trap 'exit 0' TERM INT
ip=""
set -- $(ip -4 -o addr show dev eth0 scope global 2>/dev/null) $(ip -4 -o addr show scope global 2>/dev/null)
while [ "$#" -gt 1 ]; do
  if [ "$1" = inet ]; then ip=\${2%/*}; break; fi
  shift
done
[ -n "$ip" ] || ip=$(hostname -i 2>/dev/null)
printf 'ip=%s\\nhostname=%s\\n' "$ip" "$(hostname)" >/www/index.html
echo "serving ip=$ip hostname=$(hostname) on :80"
httpd -f -p 80 -h /www &
wait $!
`;
export const APP_NAMES = ["docker.io/library/nginx:latest", "pinpool.local/httpd:1"];
const APP_APPLETS = ["cat", "env", "hostname", "httpd", "ip", "ls", "nc", "ps", "sh", "sleep", "wget"];
const APP_CONFIG: ImageConfig = { entrypoint: ["/serve.sh"], env: ["PATH=/bin"], workingDir: "/www" };

export async function buildApp(v: Versions): Promise<BuiltImage> {
  await needBusybox();
  const key = sha256(APP_SCRIPT, JSON.stringify([APP_NAMES, APP_APPLETS, APP_CONFIG]), await fileDigest(BUSYBOX)).slice(0, 12);
  const out = path.join(v.cache, "images", `app-${await busyboxVersion()}-${key}.tar`);
  return cached("app", APP_NAMES, out, () =>
    withWorkDir(out, async (work) => {
      const rootfs = await mkdirs(work, "rootfs");
      await addBusybox(rootfs, APP_APPLETS);
      await mkdirs(rootfs, "www");
      await chmod(await mkdirs(rootfs, "tmp"), 0o1777);
      await writeText(path.join(rootfs, "serve.sh"), APP_SCRIPT, 0o755);
      await writeOciArchive({ names: APP_NAMES, rootfs, config: APP_CONFIG }, out);
    }),
  );
}

// ---------------------------------------------------------------------------------------
// pinpool

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
  const files = [node, ...libraries, BUSYBOX, "package.json", "package-lock.json", "scripts/images/build.ts", "scripts/images/oci.ts"];
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

// ---------------------------------------------------------------------------------------

/**
 * Builds (or reuses) the three archives, or those of `only`'s kinds, calling `report` as
 * each is ready.
 */
export async function buildImages(only: readonly string[] = [], report: (image: BuiltImage) => void = () => {}): Promise<BuiltImage[]> {
  await need("tar", "the image layers are made with GNU tar (apt-get install tar)");
  await need("ldd", "the pinpool image copies the libraries ldd lists for node (apt-get install libc-bin)");
  const v = await versions();
  const builders: [string, () => Promise<BuiltImage>][] = [
    ["pause", () => buildPause(v)],
    ["app", () => buildApp(v)],
    ["pinpool", () => buildPinpool()],
  ];
  const unknown = only.filter((k) => !builders.some(([kind]) => kind === k));
  if (unknown.length > 0) throw new UsageError(`unknown image ${unknown.join(", ")}; choose from pause, app, pinpool (or none for all three).`);
  const built: BuiltImage[] = [];
  for (const [kind, build] of builders) {
    if (only.length > 0 && !only.includes(kind)) continue;
    const image = await build();
    report(image);
    built.push(image);
  }
  return built;
}

export function describe(image: BuiltImage): string {
  const size = `${(image.bytes / 1e6).toFixed(1)} MB`;
  const how = image.built ? `built in ${image.seconds.toFixed(1)} s` : "reused";
  return `${image.kind}: ${image.names.join(", ")}  ${image.path}  ${size}  ${how}`;
}

// `npm run images [-- pause|app|pinpool …]`; with --paths, stdout is only the archives'
// paths, one a line (for scripts that import them), and the summary goes to stderr.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const pathsOnly = args.includes("--paths");
  const report = (image: BuiltImage): void => {
    if (pathsOnly) {
      console.error(describe(image));
      console.log(image.path);
    } else console.log(describe(image));
  };
  buildImages(
    args.filter((a) => a !== "--paths"),
    report,
  ).catch((e: unknown) => {
    if (e instanceof MissingPrerequisite || e instanceof UsageError) console.error(`images: ${e.message}`);
    else console.error(e);
    process.exit(1);
  });
}
