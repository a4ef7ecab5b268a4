/**
 * The router outside the real node (scripts/cluster/underlay.sh): what it has learned over
 * BGP, and requests from the client addresses behind it. Used by the real-node tests, the
 * demo and bench:routed.
 */
import { runProcess } from "./local.js";

/** As in underlay.sh. */
export const ROUTER_NS = "pinpool-router";
export const CLIENT4 = "198.18.0.10";
export const CLIENT6 = "fd99:18::10";
/** The node's data plane (PINPOOL_NODE_NET, as in node.sh). */
export const NODE_NET = process.env.PINPOOL_NODE_NET || "routed";

const isV6 = (ip: string): boolean => ip.includes(":");

/** The router's route to `ip`, as `ip route` prints it, if it learned one over BGP. */
export async function routerRoute(ip: string): Promise<string | undefined> {
  const r = await runProcess("ip", ["-n", ROUTER_NS, isV6(ip) ? "-6" : "-4", "route", "show", "proto", "bird", "match", ip]);
  if (r.code !== 0) throw new Error(`ip -n ${ROUTER_NS} route failed: ${r.stderr.trim()}`);
  return r.stdout.split("\n").find((l) => l.startsWith(`${ip} `));
}

/** The shell command a person types to fetch `ip`'s page from the client behind the router. */
export function outsideFetchCommand(ip: string): string[] {
  const url = isV6(ip) ? `http://[${ip}]/` : `http://${ip}/`;
  return ["ip", "netns", "exec", ROUTER_NS, "curl", "-sS", "-g", "--max-time", "5", "--interface", isV6(ip) ? CLIENT6 : CLIENT4, url];
}

/** The page of the pod at `ip`, fetched from the client behind the router. */
export async function fetchFromOutside(ip: string): Promise<string> {
  const [cmd, ...args] = outsideFetchCommand(ip);
  const r = await runProcess(cmd!, args);
  if (r.code !== 0) throw new Error(`fetching http://${ip}/ from ${ROUTER_NS} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}
