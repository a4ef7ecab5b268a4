/** The real node's network config, switched between IPAMs by the benchmarks (containerd reloads it when it changes). */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { stateDir } from "../cluster/process.js";

const conflist = path.join(stateDir, "node/net.d/10-pinpool.conflist");
/** containerd's config watcher picks a change up within about a second. */
const RELOAD_MS = 2000;

interface Conflist {
  plugins: Array<{ ipam: Record<string, unknown> }>;
}

/** host-local's own address records, kept with the node's other state. */
export const HOST_LOCAL_DATA_DIR = path.join(stateDir, "node/host-local");

/** Replaces the config in one step: containerd could load a half-written file (a name not ending in .conf* is not loaded). */
function writeConflist(text: string): void {
  writeFileSync(`${conflist}.new`, text);
  renameSync(`${conflist}.new`, conflist);
}

/** Runs `fn` with the node's main plugin pointed at `ipam`, then puts the network config back as it was. */
export async function withIpam<T>(ipam: Record<string, unknown>, fn: () => Promise<T>): Promise<T> {
  const original = readFileSync(conflist, "utf8");
  const conf = JSON.parse(original) as Conflist;
  conf.plugins[0]!.ipam = ipam;
  writeConflist(JSON.stringify(conf));
  await new Promise((r) => setTimeout(r, RELOAD_MS));
  try {
    return await fn();
  } finally {
    writeConflist(original);
    await new Promise((r) => setTimeout(r, RELOAD_MS));
  }
}
