/**
 * The API clients' connection to the API server. client-node 1.4 builds a new https.Agent
 * for every request (KubeConfig.applySecurityAuthentication → createAgent), so every call
 * opened a new TCP connection and paid a full TLS handshake, client certificate included:
 * the profile of the agent during bench:cni showed a third of its CPU in
 * createSecureContext and the handshake, more than the request itself. Here the agent is
 * kept and reused (keep-alive) for as long as the TLS material it was made with is the
 * same; a rotated certificate or CA makes a new one.
 */
import https from "node:https";
import * as k8s from "@kubernetes/client-node";

type TlsOptions = Pick<https.AgentOptions, "ca" | "cert" | "key" | "pfx" | "passphrase" | "rejectUnauthorized" | "servername">;
const TLS_FIELDS = ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"] as const;

/** Idle keep-alive connections are closed after this long, before any server-side idle limit. */
export const IDLE_SOCKET_MS = 30_000;

/** Whether two agents' TLS material is the same (Buffers and strings by content). */
export function sameTls(a: TlsOptions, b: TlsOptions): boolean {
  const same = (x: unknown, y: unknown): boolean => {
    if (Array.isArray(x) && Array.isArray(y)) return x.length === y.length && x.every((v, i) => same(v, y[i]));
    if (Buffer.isBuffer(x) && Buffer.isBuffer(y)) return x.equals(y);
    if (Buffer.isBuffer(x) || Buffer.isBuffer(y)) return Buffer.from(x as string).equals(Buffer.from(y as string));
    return x === y;
  };
  return TLS_FIELDS.every((f) => same(a[f], b[f]));
}

/** A KubeConfig whose API calls share one keep-alive https.Agent (see the file comment). */
export class KeepAliveKubeConfig extends k8s.KubeConfig {
  private shared?: { tls: TlsOptions; agent: https.Agent };

  override async applySecurityAuthentication(context: Parameters<k8s.KubeConfig["applySecurityAuthentication"]>[0]): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getAgent();
    // Only a plain https.Agent is replaced; proxies (their own Agent subclasses) are left alone.
    if (!made || made.constructor !== https.Agent) return;
    const tls = (made as https.Agent & { options: TlsOptions }).options;
    if (!this.shared || !sameTls(this.shared.tls, tls)) {
      this.shared?.agent.destroy();
      const kept: TlsOptions = Object.fromEntries(TLS_FIELDS.filter((f) => tls[f] !== undefined).map((f) => [f, tls[f]]));
      this.shared = { tls: kept, agent: new https.Agent({ ...kept, keepAlive: true, timeout: IDLE_SOCKET_MS }) };
    }
    context.setAgent(this.shared.agent);
  }
}

/** A KubeConfig from $KUBECONFIG when set, else the in-cluster service account. */
export function loadKubeConfig(): k8s.KubeConfig {
  const kc = new KeepAliveKubeConfig();
  if (process.env.KUBECONFIG) kc.loadFromFile(process.env.KUBECONFIG);
  else kc.loadFromCluster();
  return kc;
}
