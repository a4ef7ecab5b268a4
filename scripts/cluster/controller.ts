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
import { startComponent, stateDir } from "./process.js";

const run = promisify(execFile);
export const CONTROLLER_NAMESPACE = "pinpool-system";

export interface LocalController {
  port: number;
  metricsPort: number;
  certDir: string;
  stop(): Promise<void>;
  /** Lets this process exit while the controller keeps running (`npm run cluster:down` stops it). */
  leaveRunning(): void;
}

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
export async function startLocalController(kubeconfigPath: string, port = 19443, metricsPort = 19090): Promise<LocalController> {
  const certDir = path.join(stateDir, "webhook-certs");
  await run("bash", [path.join(repoRoot, "webhook-certs/generate.sh"), certDir]);
  await kubectl(["create", "namespace", CONTROLLER_NAMESPACE]); // AlreadyExists is fine
  const caPem = readFileSync(path.join(certDir, "ca.crt"));
  const component = await startComponent(
    "pinpool-controller",
    "src/controller/main.ts",
    {
      KUBECONFIG: kubeconfigPath,
      PINPOOL_CERT_DIR: certDir,
      PINPOOL_WEBHOOK_HOST: "127.0.0.1",
      PINPOOL_WEBHOOK_PORT: String(port),
      PINPOOL_METRICS_PORT: String(metricsPort),
      PINPOOL_NAMESPACE: CONTROLLER_NAMESPACE,
    },
    async (pid) => {
      const answered = await healthzPid(port, caPem);
      if (answered !== undefined && answered !== pid) throw new Error(`port ${port} is held by another process (pid ${answered}); stop it first`);
      return answered === pid;
    },
  );
  await kubectlOk(["apply", "-f", "-"], renderWebhooks(caPem.toString(), `https://127.0.0.1:${port}`));
  // Webhook configurations reach the API server through an informer: probe until a dry run
  // shows both webhooks answering (the mutating one defaults ipVersion, the validating one denies).
  const probe = `apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata: { name: pinpool-webhook-probe }
spec: { subnet: 10.255.255.1/24 }
`;
  await waitFor("the webhooks to be registered", 30_000, async () => {
    const r = await kubectl(["create", "--dry-run=server", "-f", "-"], probe);
    return r.stderr.includes('admission webhook "validate.pinpool.io" denied') ? true : undefined;
  });
  return {
    port,
    metricsPort,
    certDir,
    leaveRunning: () => component.leaveRunning(),
    stop: async () => {
      await unregisterWebhooks();
      await component.stop();
    },
  };
}
