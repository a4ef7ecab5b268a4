/**
 * The ports of the local cluster's pinpool components (all on 127.0.0.1).
 * PINPOOL_LOCAL_PORT_OFFSET (default 0) moves them all, so a second checkout can run its own
 * cluster beside the first (with PINPOOL_APISERVER_PORT and PINPOOL_ETCD_PORT for the control plane).
 */
export interface LocalPorts {
  webhook: number;
  controllerMetrics: number;
  agentMetrics: number;
  prometheus: number;
}

const BASE: LocalPorts = { webhook: 19443, controllerMetrics: 19090, agentMetrics: 19091, prometheus: 19099 };

/** The ports for `env`; throws when the offset is not a whole number keeping every port in 1024-65535. */
export function localPorts(env: NodeJS.ProcessEnv = process.env): LocalPorts {
  const raw = env.PINPOOL_LOCAL_PORT_OFFSET ?? "";
  const offset = raw === "" ? 0 : Number(raw);
  const ports: number[] = Object.values(BASE).map((p: number) => p + offset);
  if (!Number.isInteger(offset) || ports.some((p) => p < 1024 || p > 65535)) {
    throw new Error(`PINPOOL_LOCAL_PORT_OFFSET is ${JSON.stringify(raw)}; expected a whole number that keeps ports ${Object.values(BASE).join(", ")} within 1024-65535`);
  }
  return { webhook: BASE.webhook + offset, controllerMetrics: BASE.controllerMetrics + offset, agentMetrics: BASE.agentMetrics + offset, prometheus: BASE.prometheus + offset };
}

export const LOCAL_PORTS = localPorts();
