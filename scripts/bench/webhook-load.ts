/**
 * Loads the real controller's webhook from a load generator in its own process (load.ts), so
 * the figures are the server's, not a shared event loop's. Shared by bench:webhook and
 * bench:scale.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type * as k8s from "@kubernetes/client-node";
import { loadReview } from "../../test/fixtures/load.js";
import { type LocalController, webhookClientCertificate } from "../cluster/controller.js";
import { repoRoot } from "../cluster/local.js";

const run = promisify(execFile);

export interface LoadResult {
  n: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  statuses: Record<string, number>;
}

/** An UPDATE review of stored Deployment `stored` that only adds a label: the webhook answers it without an API call. */
export function labelUpdateReview(stored: k8s.V1Deployment): Record<string, unknown> {
  const review = loadReview("deployment-update-label");
  const req = review.request as Record<string, unknown>;
  req.namespace = stored.metadata?.namespace;
  req.name = stored.metadata?.name;
  req.oldObject = JSON.parse(JSON.stringify(stored));
  req.object = { ...JSON.parse(JSON.stringify(stored)), metadata: { ...stored.metadata, labels: { tier: "web" } } };
  return review;
}

/** POSTs `review` to `route` over `connections` connections, `amount` times, or for `amount` seconds when it ends in "s". */
export async function loadWebhook(controller: LocalController, route: "/mutate" | "/validate", review: unknown, connections: number, amount: string): Promise<LoadResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pinpool-bench-"));
  const file = path.join(dir, "review.json");
  writeFileSync(file, JSON.stringify(review));
  const client = webhookClientCertificate();
  const ca = path.join(controller.certDir, "ca.crt");
  const args = [path.join(repoRoot, "scripts/bench/load.ts"), `https://127.0.0.1:${controller.port}${route}`, file, ca, String(connections), amount, client.cert, client.key];
  const { stdout } = await run(process.execPath, ["--import", "tsx", ...args], { cwd: repoRoot });
  return JSON.parse(stdout) as LoadResult;
}

export const formatLoad = (r: LoadResult, connections: number): string =>
  `${r.rps.toFixed(0)} reviews/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms (n=${r.n}, ${connections} connections, HTTP ${JSON.stringify(r.statuses)})`;
