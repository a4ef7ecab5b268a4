/** The controller process's configuration, from its environment, checked once at start. */
export interface ControllerConfig {
  /** The namespace pinpool runs in: the webhooks skip it, and the cluster ledger lives there. */
  namespace: string;
  ledgerName: string;
  certDir: string;
  webhookPort: number;
  webhookHost: string;
  metricsPort: number;
  logLevel: string;
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

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"];

export function loadControllerConfig(env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  const logLevel = env.PINPOOL_LOG_LEVEL || "info";
  if (!LEVELS.includes(logLevel)) throw new ConfigError(`PINPOOL_LOG_LEVEL=${JSON.stringify(logLevel)}: expected one of ${LEVELS.join(", ")}`);
  return {
    namespace: env.PINPOOL_NAMESPACE || "pinpool-system",
    ledgerName: env.PINPOOL_LEDGER_NAME || "pinpool-ledger",
    certDir: env.PINPOOL_CERT_DIR || "/etc/pinpool/tls",
    webhookHost: env.PINPOOL_WEBHOOK_HOST || "0.0.0.0",
    webhookPort: port(env, "PINPOOL_WEBHOOK_PORT", 9443),
    metricsPort: port(env, "PINPOOL_METRICS_PORT", 9090),
    logLevel,
  };
}
