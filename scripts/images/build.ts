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
import { existsSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type ImageConfig, fileDigest, writeOciArchive } from "./oci.js";
import { buildPinpool } from "./pinpool-image.js";
import { BUSYBOX, type BuiltImage, MissingPrerequisite, UsageError, addBusybox, busyboxVersion, cached, exec, mkdirs, need, needBusybox, repoRoot, sha256, withWorkDir, writeText } from "./stage.js";

export type { BuiltImage } from "./stage.js";

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
# pinpool's app image: serves a page naming this pod's addresses and hostname on :80, and the
# address the request came from (a client outside the cluster sees its own address: no NAT).
# Arguments, if given, run instead (args: [sleep, "3600"]).
[ "$#" -eq 0 ] || exec "$@"
# As PID 1 a shell ignores an untrapped TERM, and every pod deletion would wait out its
# grace period: exit at once.
trap 'exit 0' TERM INT
# The first global address of a family, eth0's first.
first() { # family
  set -- $(ip -"$1" -o addr show dev eth0 scope global 2>/dev/null) $(ip -"$1" -o addr show scope global 2>/dev/null)
  while [ "$#" -gt 1 ]; do
    case "$1" in inet | inet6) echo "\${2%/*}"; return ;; esac
    shift
  done
}
ip=$(first 4)
ip6=$(first 6)
[ -n "$ip" ] || [ -n "$ip6" ] || ip=$(hostname -i 2>/dev/null)
{
  [ -z "$ip" ] || printf 'ip=%s\\n' "$ip"
  [ -z "$ip6" ] || printf 'ip6=%s\\n' "$ip6"
  printf 'hostname=%s\\n' "$(hostname)"
} >/www/page.txt
echo "serving $(tr '\\n' ' ' </www/page.txt)on :80"
httpd -f -p 80 -h /www &
wait $!
`;
/** The page at /: busybox httpd runs /cgi-bin/index.cgi for a folder without index.html. */
export const APP_PAGE_SCRIPT = `#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
cat /www/page.txt
# httpd listens on IPv6 too: an IPv4 client comes as [::ffff:a.b.c.d].
client=\${REMOTE_ADDR#\\[}
client=\${client%]}
printf 'client=%s\\n' "\${client#::ffff:}"
`;
export const APP_NAMES = ["docker.io/library/nginx:latest", "pinpool.local/httpd:1"];
const APP_APPLETS = ["cat", "env", "hostname", "httpd", "ip", "ls", "nc", "ps", "sh", "sleep", "tr", "wget"];
const APP_CONFIG: ImageConfig = { entrypoint: ["/serve.sh"], env: ["PATH=/bin"], workingDir: "/www" };

export async function buildApp(v: Versions): Promise<BuiltImage> {
  await needBusybox();
  const key = sha256(APP_SCRIPT, APP_PAGE_SCRIPT, JSON.stringify([APP_NAMES, APP_APPLETS, APP_CONFIG]), await fileDigest(BUSYBOX)).slice(0, 12);
  const out = path.join(v.cache, "images", `app-${await busyboxVersion()}-${key}.tar`);
  return cached("app", APP_NAMES, out, () =>
    withWorkDir(out, async (work) => {
      const rootfs = await mkdirs(work, "rootfs");
      await addBusybox(rootfs, APP_APPLETS);
      await writeText(path.join(await mkdirs(rootfs, "www/cgi-bin"), "index.cgi"), APP_PAGE_SCRIPT, 0o755);
      await chmod(await mkdirs(rootfs, "tmp"), 0o1777);
      await writeText(path.join(rootfs, "serve.sh"), APP_SCRIPT, 0o755);
      await writeOciArchive({ names: APP_NAMES, rootfs, config: APP_CONFIG }, out);
    }),
  );
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
