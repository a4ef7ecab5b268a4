/**
 * The agent's socket API, spoken by the CNI plugin (src/cni): POST /v1/cni/<command> with
 * the CNI request as JSON; 200 {result} or an error status with {error: {code, msg, details}}
 * in CNI's error shape, which the plugin prints as is.
 */
import type { Route } from "../api/types.js";

/** CNI error codes: 1-99 are the spec's; 100+ are pinpool's. */
export const CNI_CODE = {
  unknownContainer: 3,
  invalidEnvironment: 4,
  decodeFailure: 6,
  tryAgainLater: 11,
  badAnnotation: 100,
  noPool: 101,
  poolExhausted: 102,
  /** The pool's free addresses are all shared with another pool (a conflict an operator must resolve). */
  addressConflict: 103,
} as const;

export class CniError extends Error {
  override name = "CniError";
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly details?: string,
  ) {
    super(details ? `${msg}: ${details}` : msg);
  }
}

export interface CniRequest {
  command: "ADD" | "DEL" | "CHECK" | "STATUS" | "GC";
  containerID: string;
  netns?: string;
  ifName: string;
  args: Record<string, string>;
  cniVersion: string;
  config: Record<string, unknown>;
  /** From args (ADD, DEL, CHECK): the pod the sandbox is for. */
  pod: { namespace: string; name: string; uid?: string };
}

export interface CniResult {
  ips: Array<{ address: string; gateway?: string }>;
  routes: Route[];
}

const COMMANDS = ["ADD", "DEL", "CHECK", "STATUS", "GC"];

/** Checks a request body; throws CniError naming the field. */
export function parseCniRequest(command: string, body: unknown): CniRequest {
  const b = body as Partial<CniRequest> | null;
  const bad = (field: string, allowed: string): never => {
    throw new CniError(CNI_CODE.decodeFailure, `bad request to the pinpool agent: ${field}`, `got ${JSON.stringify((b as Record<string, unknown> | null)?.[field])}, expected ${allowed}`);
  };
  if (typeof b !== "object" || b === null) throw new CniError(CNI_CODE.decodeFailure, "bad request to the pinpool agent", "the body is not a JSON object");
  if (!COMMANDS.includes(command) || b.command !== command) bad("command", `the command of the path (${COMMANDS.join(", ")})`);
  if (typeof b.config !== "object" || b.config === null) bad("config", "the network configuration object");
  if (command === "ADD" || command === "DEL" || command === "CHECK") {
    if (typeof b.containerID !== "string" || !b.containerID) bad("containerID", "a non-empty string");
    if (typeof b.ifName !== "string" || !b.ifName) bad("ifName", "a non-empty string");
    if (!b.args?.K8S_POD_NAMESPACE || !b.args.K8S_POD_NAME) bad("args", "K8S_POD_NAMESPACE and K8S_POD_NAME");
  }
  const args = b.args ?? {};
  const pod = { namespace: args.K8S_POD_NAMESPACE ?? "", name: args.K8S_POD_NAME ?? "", ...(args.K8S_POD_UID ? { uid: args.K8S_POD_UID } : {}) };
  return { containerID: "", ifName: "", cniVersion: "1.1.0", ...b, args, pod } as CniRequest;
}
