/**
 * A small HTTPS load generator, run as its own process so it does not share the server's
 * event loop: POSTs one body `count` times over `concurrency` keep-alive connections and
 * prints {n, seconds, rps, p50Ms, p99Ms, statuses} as JSON.
 *
 *   node --import tsx scripts/bench/load.ts URL BODY_FILE CA_FILE CONCURRENCY COUNT [CERT_FILE KEY_FILE]
 *
 * COUNT: a number of requests, or a duration in seconds ("20s").
 * CERT_FILE and KEY_FILE: the client certificate to present (the webhook's mutual TLS).
 */
import { readFileSync } from "node:fs";
import https from "node:https";
import { summarise } from "./stats.js";

const [url, bodyFile, caFile, concurrencyText, countText, certFile, keyFile] = process.argv.slice(2) as [string, string, string, string, string, string?, string?];
const body = readFileSync(bodyFile);
const clientCert = certFile && keyFile ? { cert: readFileSync(certFile), key: readFileSync(keyFile) } : {};
const agent = new https.Agent({ keepAlive: true, maxSockets: Number(concurrencyText), ca: readFileSync(caFile), ...clientCert });
const target = new URL(url);
const seconds = countText.endsWith("s") ? Number(countText.slice(0, -1)) : undefined;
const count = seconds === undefined ? Number(countText) : Infinity;
const until = seconds === undefined ? Infinity : Date.now() + seconds * 1000;
const latencies: number[] = [];
const statuses: Record<string, number> = {};
let sent = 0;

function one(): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const req = https.request(
      { agent, host: target.hostname, port: target.port, path: target.pathname, method: "POST", headers: { "content-type": "application/json", "content-length": body.length } },
      (res) => {
        res.resume();
        res.on("end", () => {
          latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
          statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
          resolve();
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function worker(): Promise<void> {
  while (sent < count && Date.now() < until) {
    sent++;
    await one();
  }
}

const start = process.hrtime.bigint();
await Promise.all(Array.from({ length: Number(concurrencyText) }, worker));
const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
const s = summarise(latencies);
console.log(JSON.stringify({ n: s.n, seconds: elapsed, rps: s.n / elapsed, p50Ms: s.p50, p99Ms: s.p99, statuses }));
agent.destroy();
