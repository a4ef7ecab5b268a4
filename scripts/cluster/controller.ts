/**
 * Runs pinpool-controller against the local cluster, as a child process on 127.0.0.1, and
 * registers manifests/webhooks/ with it by URL (the API server runs on this machine too).
 * Used by the integration tests, the benchmarks and the demo.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import https from "node:https";
import path from "node:path";
import { promisify } from "node:util";
import YAML from "yaml";
import { kubectl, kubectlOk, repoRoot, waitFor } from "./local.js";
import { LOCAL_PORTS } from "./ports.js";
import { startComponent, stateDir } from "./process.js";

const run = promisify(execFile);
export const CONTROLLER_NAMESPACE = "pinpool-system";

export interface LocalController {
  port: number;
  metricsPort: number;
  certDir: string;
  /** The replica's identity in the Lease. */
  identity: string;
  /** Unregisters the webhooks (when this replica registered them) and stops it; SIGKILL simulates a crash. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Lets this process exit while the controller keeps running (`npm run cluster:down` stops it). */
  leaveRunning(): void;
}

export interface LocalControllerOptions {
  port?: number;
  metricsPort?: number;
  /** The component's name (its log and pid file); a second replica needs its own. */
  name?: string;
  /** Register the webhooks with this replica (the first one does). */
  register?: boolean;
  /** Extra PINPOOL_* settings, e.g. PINPOOL_RECONCILERS=off for a webhook-only replica. */
  env?: Record<string, string>;
}

/**
 * Timings for a local cluster: short grace and lease so tests and the demo see the
 * reconcilers act within seconds (production defaults: 60 s grace, 10 s resync, 15 s lease).
 */
export const LOCAL_TIMINGS = { PINPOOL_GC_GRACE_SECONDS: "5", PINPOOL_RESYNC_SECONDS: "1", PINPOOL_LEASE_DURATION_SECONDS: "6" };

interface WebhookConfiguration {
  webhooks: Array<{ clientConfig: { service?: { path?: string }; url?: string; caBundle?: string } }>;
}

/** manifests/webhooks/*.yaml with caBundle filled and, for a local cluster, service replaced by a URL. */
export function renderWebhooks(caPem: string, urlBase?: string): string {
  const docs = ["validating.yaml", "mutating.yaml"].map((f) => {
    const doc = YAML.parse(readFileSync(path.join(repoRoot, "manifests/webhooks", f), "utf8")) as WebhookConfiguration;
    for (const w of doc.webhooks) {
      w.clientConfig.caBundle = Buffer.from(caPem).toString("base64");
      if (urlBase) {
        w.clientConfig.url = `${urlBase}${w.clientConfig.service?.path ?? "/"}`;
        delete w.clientConfig.service;
      }
    }
    return YAML.stringify(doc);
  });
  return docs.join("---\n");
}

/** The pid /healthz reports, or undefined when nothing healthy answers. */
function healthzPid(port: number, ca: Buffer): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = https.get({ host: "127.0.0.1", port, path: "/healthz", ca, timeout: 1000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve(res.statusCode === 200 ? (JSON.parse(body) as { pid: number }).pid : undefined));
    });
    req.on("error", () => resolve(undefined));
    req.on("timeout", () => req.destroy());
  });
}

/** Removes pinpool's webhook configurations: with failurePolicy Fail they would block writes once the controller is gone. */
export async function unregisterWebhooks(): Promise<void> {
  await kubectl(["delete", "validatingwebhookconfiguration,mutatingwebhookconfiguration", "-l", "app.kubernetes.io/part-of=pinpool", "--ignore-not-found"]);
}

/**
 * Starts the controller (webhook on `port`) and registers the webhooks; resolves once the
 * API server routes admissions to it.
 */
export async function startLocalController(kubeconfigPath: string, o: LocalControllerOptions = {}): Promise<LocalController> {
  const { port = LOCAL_PORTS.webhook, metricsPort = LOCAL_PORTS.controllerMetrics, name = "pinpool-controller", register = true } = o;
  const certDir = path.join(stateDir, "webhook-certs");
  if (register) await run("bash", [path.join(repoRoot, "webhook-certs/generate.sh"), certDir]);
  await kubectl(["create", "namespace", CONTROLLER_NAMESPACE]); // AlreadyExists is fine
  const caPem = readFileSync(path.join(certDir, "ca.crt"));
  const identity = `${name}-local`;
  const component = await startComponent(
    name,
    "src/controller/main.ts",
    {
      KUBECONFIG: kubeconfigPath,
      PINPOOL_CERT_DIR: certDir,
      PINPOOL_WEBHOOK_HOST: "127.0.0.1",
      PINPOOL_WEBHOOK_PORT: String(port),
      PINPOOL_METRICS_PORT: String(metricsPort),
      PINPOOL_NAMESPACE: CONTROLLER_NAMESPACE,
      PINPOOL_POD_NAME: identity,
      // Mutual TLS on: only the API server (its webhook client certificate, see up.sh) gets answers.
      PINPOOL_CLIENT_CA_FILE: path.join(repoRoot, "manifests/certs/client-ca.crt"),
      ...LOCAL_TIMINGS,
      ...o.env,
    },
    async (pid) => {
      const answered = await healthzPid(port, caPem);
      if (answered !== undefined && answered !== pid) throw new Error(`port ${port} is held by another process (pid ${answered}); stop it first`);
      return answered === pid;
    },
  );
  if (register) await registerWebhooks(caPem.toString(), port);
  return {
    port,
    metricsPort,
    certDir,
    identity,
    leaveRunning: () => component.leaveRunning(),
    stop: async (signal) => {
      if (register) await unregisterWebhooks();
      await component.stop(signal);
    },
  };
}

/** Registers the webhooks by URL and resolves once the API server routes admissions to them. */
async function registerWebhooks(caPem: string, port: number): Promise<void> {
  await kubectlOk(["apply", "-f", "-"], renderWebhooks(caPem, `https://127.0.0.1:${port}`));
  await waitForWebhooks();
}

/** Resolves once the API server routes admissions to pinpool's webhooks. */
export async function waitForWebhooks(): Promise<void> {
  // Webhook configurations reach the API server through an informer: probe until a dry run
  // shows both webhooks answering (the mutating one defaults ipVersion, the validating one denies).
  const probe = `apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata: { name: pinpool-webhook-probe }
spec: { subnet: 10.255.255.1/24 }
`;
  await waitFor("the webhooks to be registered", 60_000, async () => {
    const r = await kubectl(["create", "--dry-run=server", "-f", "-"], probe);
    return r.stderr.includes('admission webhook "validate.pinpool.io" denied') ? true : undefined;
  });
}

/** That certificate and key, for tools that call the webhook as the API server does (benchmarks, tests). */
export function webhookClientCertificate(): { cert: string; key: string } {
  return { cert: path.join(stateDir, "admission/apiserver-client.crt"), key: path.join(stateDir, "admission/apiserver-client.key") };
}

/** What benchmarks run with: the production sweep interval, so figures include its real cost. */
export const PRODUCTION_TIMINGS = { PINPOOL_GC_GRACE_SECONDS: "60", PINPOOL_RESYNC_SECONDS: "10", PINPOOL_LEASE_DURATION_SECONDS: "15" };
