import { hostname } from "node:os";

/** The controller process's configuration, from its environment, checked once at start. */
export interface ControllerConfig {
  /** The namespace pinpool runs in: the webhooks skip it, and the cluster ledger lives there. */
  namespace: string;
  ledgerName: string;
  certDir: string;
  /**
   * Mutual TLS: the CA file that signed the API server's client certificate
   * (PINPOOL_CLIENT_CA_FILE). When set, a review without such a certificate is refused.
   */
  clientCAFile?: string;
  /** With clientCAFile: the certificate common names accepted (PINPOOL_CLIENT_NAMES, comma-separated; required then). */
  clientNames: string[];
  webhookPort: number;
  webhookHost: string;
  metricsPort: number;
  logLevel: string;
  /** false: serve the webhooks only, never run the reconcilers (PINPOOL_RECONCILERS=off). */
  reconcilers: boolean;
  /** This replica's name in the Lease (the pod's name in a cluster). */
  identity: string;
  leaseName: string;
  leaseDurationSeconds: number;
  /** How long a missing pod, workload or pool object must stay missing before the reconcilers act. */
  graceSeconds: number;
  resyncSeconds: number;
}

function reconcilers(raw: string | undefined): boolean {
  if (raw === undefined || raw === "" || raw === "on") return true;
  if (raw === "off") return false;
  throw new ConfigError(`PINPOOL_RECONCILERS=${JSON.stringify(raw)}: expected "on" (default) or "off" (webhooks only)`);
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

function port(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError(`${key}=${JSON.stringify(raw)}: expected a port number 1-65535`);
  return n;
}

function seconds(env: NodeJS.ProcessEnv, key: string, fallback: number, min: number): number {
  const raw = env[key];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > 86_400) throw new ConfigError(`${key}=${JSON.stringify(raw)}: expected a number of seconds from ${min} to 86400`);
  return n;
}

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"];

export function loadControllerConfig(env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  const logLevel = env.PINPOOL_LOG_LEVEL || "info";
  const clientNames = (env.PINPOOL_CLIENT_NAMES ?? "").split(",").map((n) => n.trim()).filter((n) => n !== "");
  // A cluster CA signs kubelets' and users' client certificates too: name the API server's.
  if (env.PINPOOL_CLIENT_CA_FILE && clientNames.length === 0) {
    throw new ConfigError(`PINPOOL_CLIENT_CA_FILE=${JSON.stringify(env.PINPOOL_CLIENT_CA_FILE)} needs PINPOOL_CLIENT_NAMES: the common name(s) of the API server's webhook client certificate, comma-separated`);
  }
  if (!LEVELS.includes(logLevel)) throw new ConfigError(`PINPOOL_LOG_LEVEL=${JSON.stringify(logLevel)}: expected one of ${LEVELS.join(", ")}`);
  return {
    namespace: env.PINPOOL_NAMESPACE || "pinpool-system",
    ledgerName: env.PINPOOL_LEDGER_NAME || "pinpool-ledger",
    certDir: env.PINPOOL_CERT_DIR || "/etc/pinpool/tls",
    ...(env.PINPOOL_CLIENT_CA_FILE ? { clientCAFile: env.PINPOOL_CLIENT_CA_FILE } : {}),
    clientNames,
    webhookHost: env.PINPOOL_WEBHOOK_HOST || "0.0.0.0",
    webhookPort: port(env, "PINPOOL_WEBHOOK_PORT", 9443),
    metricsPort: port(env, "PINPOOL_METRICS_PORT", 9090),
    logLevel,
    reconcilers: reconcilers(env.PINPOOL_RECONCILERS),
    identity: env.PINPOOL_POD_NAME || `${hostname()}-${process.pid}`,
    leaseName: env.PINPOOL_LEASE_NAME || "pinpool-controller",
    leaseDurationSeconds: seconds(env, "PINPOOL_LEASE_DURATION_SECONDS", 15, 2),
    graceSeconds: seconds(env, "PINPOOL_GC_GRACE_SECONDS", 60, 0),
    resyncSeconds: seconds(env, "PINPOOL_RESYNC_SECONDS", 10, 0.1),
  };
}
