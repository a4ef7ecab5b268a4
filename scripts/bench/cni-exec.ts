/**
 * Running CNI plugins the way a runtime does (a process per call, config on stdin,
 * CNI_* in the environment) and measuring them: latency at a concurrency, peak RSS of one
 * call, and an agent that answers at once (the plugin's own exec cost). For bench:cni.
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import http from "node:http";
import { type Stats, summarise } from "./stats.js";

export interface Run {
  code: number;
  ms: number;
  out: string;
}

/** Runs `binary` once with `env` and `stdin`; the time includes process start. */
export function exec(binary: string, env: Record<string, string>, stdin: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const child = spawn(binary, [], { env });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, ms: Number(process.hrtime.bigint() - t) / 1e6, out }));
    child.stdin.on("error", () => undefined); // a plugin that exits before reading stdin
    child.stdin.end(stdin);
  });
}

/** The peak RSS (MiB) of one call, as GNU time reports it. */
export function peakRssMiB(binary: string, env: Record<string, string>, stdin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/time", ["-v", binary], { env });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    child.on("error", reject);
    child.on("close", () => resolve(Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1] ?? NaN) / 1024));
    child.stdin.on("error", () => undefined);
    child.stdin.end(stdin);
  });
}

export interface Series {
  stats: Stats;
  perSecond: number;
  failed: number;
  /** Each successful call's stdout, by index. */
  outputs: Map<number, string>;
}

/** Runs `count` calls, `concurrency` at a time. */
export async function series(count: number, concurrency: number, one: (i: number) => Promise<Run>): Promise<Series> {
  const samples: number[] = [];
  const outputs = new Map<number, string>();
  let next = 0;
  let failed = 0;
  const t = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const r = await one(i);
        if (r.code === 0) {
          samples.push(r.ms);
          outputs.set(i, r.out);
        } else if (failed++ === 0) console.log(`    first failure: ${r.out.trim()}`);
      }
    }),
  );
  return { stats: summarise(samples), perSecond: count / ((Date.now() - t) / 1000), failed, outputs };
}

/** The first address of an ADD result ("10.0.0.2", no prefix). */
export function addressOf(out: string): string {
  return ((JSON.parse(out) as { ips?: Array<{ address: string }> }).ips?.[0]?.address ?? "").split("/")[0] as string;
}

/** A stand-in agent on a unix socket that answers every request at once: what the plugin alone costs. */
export async function instantAgent(socket: string): Promise<{ close(): Promise<void> }> {
  rmSync(socket, { force: true });
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const body = JSON.stringify({ result: { ips: [{ address: "10.0.0.2/24" }], routes: [] } });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
