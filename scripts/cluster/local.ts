/**
 * The local control plane, for tests, benchmarks and the demo: starts it (idempotent),
 * runs the kubectl built with it, and hands out API clients and throwaway namespaces.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { GROUP, VERSION } from "../../src/api/types.js";
import { apiStatus, isConflict, isNotFound } from "../../src/k8s/errors.js";
import { PoolClient, type SpiderClient, SubnetClient } from "../../src/k8s/resources.js";

const run = promisify(execFile);
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const clusterDir = path.join(repoRoot, "scripts/cluster");

/** Starts the cluster unless it is already running; returns the kubeconfig path. */
export async function ensureCluster(): Promise<string> {
  const { stdout } = await run("bash", [path.join(clusterDir, "up.sh")], { maxBuffer: 16 << 20 });
  return stdout.trim().split("\n").pop() as string;
}

export function kubeConfig(kubeconfigPath: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with `stdin`, collecting its output; never throws for a non-zero exit. */
export function runProcess(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; stdin?: string; cwd?: string } = {}): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"], ...(options.env ? { env: options.env } : {}), ...(options.cwd ? { cwd: options.cwd } : {}) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.on("error", () => undefined); // a program that exits before reading stdin
    child.stdin.end(options.stdin ?? "");
  });
}

/** Runs the local cluster's kubectl as a user would type it, feeding `stdin` if given. */
export function kubectl(args: readonly string[], stdin?: string): Promise<KubectlResult> {
  return runProcess(path.join(clusterDir, "kubectl"), args, stdin === undefined ? {} : { stdin });
}

/** The local cluster, started if need be, with the API clients tests and benchmarks use. */
export async function localClients(): Promise<{ kubeconfig: string; kc: k8s.KubeConfig; core: k8s.CoreV1Api; apps: k8s.AppsV1Api; custom: k8s.CustomObjectsApi }> {
  const kubeconfig = await ensureCluster();
  const kc = kubeConfig(kubeconfig);
  return { kubeconfig, kc, core: kc.makeApiClient(k8s.CoreV1Api), apps: kc.makeApiClient(k8s.AppsV1Api), custom: kc.makeApiClient(k8s.CustomObjectsApi) };
}

/** Like kubectl, but throws with kubectl's own message when it fails. */
export async function kubectlOk(args: readonly string[], stdin?: string): Promise<string> {
  const r = await kubectl(args, stdin);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString("hex")}`;
}

/** Creates a namespace and waits until pods can be created in it (its default service account). */
export async function createNamespace(core: k8s.CoreV1Api, prefix = "t"): Promise<string> {
  const name = uniqueName(prefix);
  await core.createNamespace({ body: { metadata: { name } } });
  await waitFor(`service account default in ${name}`, 30_000, async () =>
    (await core.readNamespacedServiceAccount({ name: "default", namespace: name })) ? true : undefined,
  );
  return name;
}

/**
 * Deletes every SpiderIPPool, SpiderSubnet and SpiderReservedIP at once, pinpool's
 * finalizers included: the local cluster's reset between runs (with the webhooks and
 * reconcilers gone, nobody would remove the finalizers). An operator uninstalling
 * pinpool does the same by hand; see README "Uninstall".
 */
export async function wipeSpiderObjects(custom: k8s.CustomObjectsApi): Promise<void> {
  await clearFinalizers(new PoolClient(custom));
  await clearFinalizers(new SubnetClient(custom));
  await kubectl(["delete", "spiderippools,spidersubnets,spiderreservedips", "--all", "--wait=false"]);
}

async function clearFinalizers<T extends { metadata: { name?: string; finalizers?: string[] } }>(client: SpiderClient<T>): Promise<void> {
  // Right after the CRDs are (re)applied the API server answers 429 "storage is
  // (re)initializing" for a moment: wait that out, and only that.
  const items = await waitFor("the Spider storage to answer", 30_000, async () => {
    try {
      return await client.list();
    } catch (e) {
      if (apiStatus(e) === 429) return undefined;
      throw e;
    }
  });
  const held = items.filter((o) => o.metadata.finalizers?.length);
  for (let i = 0; i < held.length; i += 50) {
    await Promise.all(
      held.slice(i, i + 50).map(async (o) => {
        try {
          await client.replace({ ...o, metadata: { ...o.metadata, finalizers: [] } });
        } catch (e) {
          if (!isNotFound(e) && !isConflict(e)) throw e; // gone, or changed: deleted below either way
        }
      }),
    );
  }
}

/**
 * Deletes cluster-scoped Spider objects through the API, in parallel (kubectl's client-side
 * rate limit makes hundreds of deletes take minutes), and waits until they are gone: a
 * pool's finalizer holds it until the controller has released its addresses, and only
 * then may its subnet go.
 */
export async function deleteSpiderObjects(custom: k8s.CustomObjectsApi, plural: string, names: Iterable<string>, timeoutMs = 60_000): Promise<void> {
  const gone = (p: Promise<unknown>): Promise<boolean> =>
    p.then(
      () => false,
      (e: unknown) => {
        if (isNotFound(e)) return true;
        throw e;
      },
    );
  const list = [...names];
  await Promise.all(list.map((name) => gone(custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural, name }))));
  for (const name of list) {
    await waitFor(`${plural} ${name} to be gone`, timeoutMs, async () => ((await gone(custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural, name }))) ? true : undefined));
  }
}
