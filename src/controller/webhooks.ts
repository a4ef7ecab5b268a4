/** Wires the admission decisions to the API clients: what /validate and /mutate run. */
import * as k8s from "@kubernetes/client-node";
import type { CasOptions } from "../k8s/cas.js";
import { DEFAULT_CAS } from "../k8s/cas.js";
import { conflictLabel } from "../metrics/cas.js";
import type { WebhookMetrics } from "../metrics/webhook.js";
import { LedgerStores } from "../reservation/ledger-store.js";
import { ReservedIPs } from "../reservation/reserved-ips.js";
import type { AdmissionRequest } from "../webhook/admission.js";
import { type Verdict, allow } from "../api/verdict.js";
import { decideAddressSpecDefaults } from "../webhook/mutate-address-spec.js";
import { admitWorkload } from "../webhook/mutate-workload.js";
import { admitSpiderResource } from "../webhook/validate-resources.js";
import { Finalizers } from "./finalizers.js";
import { PendingClaims } from "./pending-claims.js";

export interface Admitters {
  validate: (req: AdmissionRequest, source: string) => Promise<Verdict>;
  mutate: (req: AdmissionRequest, source: string) => Promise<Verdict>;
  /** The claims these admissions wrote, settled at their deadline. */
  pending: PendingClaims;
  /** Shared with the reconcilers: one ledger cache and one group-commit lane per ledger in the process. */
  stores: LedgerStores;
  reserved: ReservedIPs;
  /** Compare-and-swap settings whose conflicts count in pinpool_cas_conflicts_total. */
  cas: CasOptions;
  clients: { core: k8s.CoreV1Api; apps: k8s.AppsV1Api; custom: k8s.CustomObjectsApi };
}

export interface AdmitterOptions {
  namespace: string;
  ledgerName: string;
  metrics: WebhookMetrics;
  /** From an admission to the deadline of the claims it wrote (PINPOOL_PENDING_CLAIM_SECONDS). */
  lapseMs: number;
  log: { info(fields: object, message: string): void; warn(fields: object, message: string): void };
  /** The controller's own user name (src/k8s/self.ts): its own pool writes need no second claim. */
  self?: string | undefined;
}

export function buildAdmitters(kc: k8s.KubeConfig, o: AdmitterOptions): Admitters {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const cas: CasOptions = {
    ...DEFAULT_CAS,
    onConflict: (what) => o.metrics.casConflicts.inc({ object: conflictLabel(what) }),
  };
  const stores = new LedgerStores({ kc, core, custom, namespace: o.namespace, ledgerName: o.ledgerName, cas, log: o.log });
  const reserved = new ReservedIPs(custom);
  const finalizers = new Finalizers({ core, custom, stores, done: (action, fields, message) => o.log.info({ action, ...fields }, message) });
  const pending = new PendingClaims({ stores, custom, apps, finalizers, metrics: o.metrics, log: o.log }, o.lapseMs);
  return {
    stores,
    reserved,
    cas,
    pending,
    clients: { core, apps, custom },
    validate: (req, source) => admitSpiderResource(req, stores, pending.provisional(req, source), o.self),
    mutate: (req, source) =>
      req.resource.group === "apps" ? admitWorkload(req, { stores, custom, apps, reserved }, pending.provisional(req, source)) : Promise.resolve(allow(decideAddressSpecDefaults(req))),
  };
}
