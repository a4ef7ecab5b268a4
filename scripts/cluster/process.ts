/** Runs one pinpool component (controller, agent) as a child process for the local cluster. */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { repoRoot, waitFor } from "./local.js";

export const stateDir = process.env.PINPOOL_CLUSTER_DIR ?? path.join(repoRoot, ".cluster");

export interface Component {
  child: ChildProcess;
  exited(): boolean;
  /** Sends `signal` (SIGTERM: a clean stop; SIGKILL: a crash) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  leaveRunning(): void;
}

/**
 * Starts `entry` (a TypeScript file) with `env`, logging to .cluster/logs/<name>.log, after
 * stopping any earlier one recorded in .cluster/pids/<name>.pid; resolves once `ready`
 * answers for this very child (`ready` gets its pid and may throw to give up).
 */
export function startComponent(name: string, entry: string, env: Record<string, string>, ready: (pid: number) => Promise<boolean>): Promise<Component> {
  // PINPOOL_CPU_PROF_DIR: profile the components (a .cpuprofile each, written at a clean exit);
  // node refuses --cpu-prof in NODE_OPTIONS, so it goes on the command line.
  const profile = process.env.PINPOOL_CPU_PROF_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.PINPOOL_CPU_PROF_DIR}`] : [];
  return startProcess(name, process.execPath, [...profile, "--import", "tsx", path.join(repoRoot, entry)], env, ready);
}

/** Like startComponent, for any program (Prometheus, say); down.sh stops it by the same pid file. */
export async function startProcess(name: string, command: string, args: string[], env: Record<string, string>, ready: (pid: number) => Promise<boolean>): Promise<Component> {
  const pidFile = path.join(stateDir, "pids", `${name}.pid`);
  if (existsSync(pidFile)) {
    try {
      process.kill(Number(readFileSync(pidFile, "utf8")), "SIGTERM");
    } catch {
      // already gone
    }
  }
  mkdirSync(path.join(stateDir, "logs"), { recursive: true });
  mkdirSync(path.dirname(pidFile), { recursive: true });
  const log = openSync(path.join(stateDir, "logs", `${name}.log`), "a");
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", log, log],
    detached: true,
  });
  writeFileSync(pidFile, String(child.pid));
  let exited = false;
  child.on("exit", () => (exited = true));
  await waitFor(`${name} to be ready`, 30_000, async () => {
    if (exited) throw new Error(`${name} exited; see ${stateDir}/logs/${name}.log`);
    return (await ready(child.pid as number)) ? true : undefined;
  });
  return {
    child,
    exited: () => exited,
    leaveRunning: () => child.unref(),
    stop: async (signal = "SIGTERM") => {
      if (exited) return;
      const gone = new Promise((r) => child.once("exit", r));
      child.kill(signal);
      await gone;
    },
  };
}

/** Stops the process recorded in .cluster/pids/<name>.pid, if it runs, and waits (up to 10 s) until it has exited. */
export async function stopRecorded(name: string): Promise<void> {
  const pidFile = path.join(stateDir, "pids", `${name}.pid`);
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8"));
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, "SIGTERM");
  await waitFor(`${name} (pid ${pid}) to exit`, 10_000, () => Promise.resolve(alive() ? undefined : true));
}
