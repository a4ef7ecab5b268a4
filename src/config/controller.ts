import { hostname } from "node:os";
import path from "node:path";

/** The controller process's configuration, from its environment, checked once at start. */
export interface ControllerConfig {
  /** The namespace pinpool runs in: the webhooks skip it, and the cluster ledger lives there. */
  namespace: string;
  ledgerName: string;
  certDir: string;
  /**
   * Mutual TLS (PINPOOL_CLIENT_AUTH=mtls, the default): the CA file that signed the API
   * server's webhook client certificate (PINPOOL_CLIENT_CA_FILE, default
   * `<certDir>/client-ca.crt`); a review without such a certificate is refused. Undefined
   * with PINPOOL_CLIENT_AUTH=none, for clusters whose API server flags cannot be set.
   */
  clientCAFile?: string;
  /** The certificate common names accepted (PINPOOL_CLIENT_NAMES, comma-separated; default pinpool-webhook-client). */
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
  /** Pause between sweeps; each judges what changed since the last (PINPOOL_RESYNC_SECONDS). */
  resyncSeconds: number;
  /** How often a sweep judges everything, the backstop of the change tracking (PINPOOL_FULL_RESYNC_SECONDS). */
  fullResyncSeconds: number;
  /**
   * From an admission to the deadline by which its object must be stored, or its claims
   * lapse (PINPOOL_PENDING_CLAIM_SECONDS): the webhooks' timeoutSeconds (5) plus a margin.
   */
  pendingClaimSeconds: number;
  /** Without mutual TLS: reviews per second and burst per source address (PINPOOL_WEBHOOK_RATE, PINPOOL_WEBHOOK_BURST). */
  rateLimit: { perSecond: number; burst: number };
  /** Without mutual TLS: the API servers' addresses (CIDRs), never rate-limited (PINPOOL_WEBHOOK_API_SERVERS, comma-separated; parsed by src/webhook/sources.ts). */
  apiServers: string[];
}

/** The common name webhook-certs/generate.sh gives the API server's webhook client certificate. */
export const DEFAULT_CLIENT_NAME = "pinpool-webhook-client";

function clientAuth(raw: string | undefined): "mtls" | "none" {
  if (raw === undefined || raw === "" || raw === "mtls") return "mtls";
  if (raw === "none") return "none";
  throw new ConfigError(`PINPOOL_CLIENT_AUTH=${JSON.stringify(raw)}: expected "mtls" (default: only the API server's webhook client certificate gets answers) or "none" (README "Mutual TLS")`);
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

function count(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new ConfigError(`${key}=${JSON.stringify(raw)}: expected a whole number from 1 to 1000000`);
  return n;
}

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"];

export function loadControllerConfig(env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  const logLevel = env.PINPOOL_LOG_LEVEL || "info";
  const names = (env.PINPOOL_CLIENT_NAMES ?? "").split(",").map((n) => n.trim()).filter((n) => n !== "");
  // Even a dedicated client CA may sign more than the API server's certificate: the name is checked too.
  const clientNames = names.length > 0 ? names : [DEFAULT_CLIENT_NAME];
  const certDir = env.PINPOOL_CERT_DIR || "/etc/pinpool/tls";
  const mtls = clientAuth(env.PINPOOL_CLIENT_AUTH) === "mtls";
  if (!mtls && env.PINPOOL_CLIENT_CA_FILE) {
    throw new ConfigError(`PINPOOL_CLIENT_CA_FILE=${JSON.stringify(env.PINPOOL_CLIENT_CA_FILE)} is set but PINPOOL_CLIENT_AUTH=none turns mutual TLS off; drop one of them`);
  }
  if (!LEVELS.includes(logLevel)) throw new ConfigError(`PINPOOL_LOG_LEVEL=${JSON.stringify(logLevel)}: expected one of ${LEVELS.join(", ")}`);
  return {
    namespace: env.PINPOOL_NAMESPACE || "pinpool-system",
    ledgerName: env.PINPOOL_LEDGER_NAME || "pinpool-ledger",
    certDir,
    ...(mtls ? { clientCAFile: env.PINPOOL_CLIENT_CA_FILE || path.join(certDir, "client-ca.crt") } : {}),
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
    fullResyncSeconds: seconds(env, "PINPOOL_FULL_RESYNC_SECONDS", 300, 1),
    // At least the webhooks' timeoutSeconds (5) and a second: an admission still running must not lapse.
    pendingClaimSeconds: seconds(env, "PINPOOL_PENDING_CLAIM_SECONDS", 15, 6),
    rateLimit: { perSecond: count(env, "PINPOOL_WEBHOOK_RATE", 20), burst: count(env, "PINPOOL_WEBHOOK_BURST", 200) },
    apiServers: (env.PINPOOL_WEBHOOK_API_SERVERS ?? "").split(",").map((e) => e.trim()).filter((e) => e !== ""),
  };
}
