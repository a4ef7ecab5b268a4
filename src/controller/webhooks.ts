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

export interface Admitters {
  validate: (req: AdmissionRequest) => Promise<Verdict>;
  mutate: (req: AdmissionRequest) => Promise<Verdict>;
  /** Shared with the reconcilers: one ledger cache and one group-commit lane per ledger in the process. */
  stores: LedgerStores;
  reserved: ReservedIPs;
  /** Compare-and-swap settings whose conflicts count in pinpool_cas_conflicts_total. */
  cas: CasOptions;
  clients: { core: k8s.CoreV1Api; apps: k8s.AppsV1Api; custom: k8s.CustomObjectsApi };
}

export function buildAdmitters(kc: k8s.KubeConfig, o: { namespace: string; ledgerName: string; metrics: WebhookMetrics }): Admitters {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const cas: CasOptions = {
    ...DEFAULT_CAS,
    onConflict: (what) => o.metrics.casConflicts.inc({ object: conflictLabel(what) }),
  };
  const stores = new LedgerStores({ core, custom, namespace: o.namespace, ledgerName: o.ledgerName, cas });
  const reserved = new ReservedIPs(custom);
  return {
    stores,
    reserved,
    cas,
    clients: { core, apps, custom },
    validate: (req) => admitSpiderResource(req, stores),
    mutate: (req) => (req.resource.group === "apps" ? admitWorkload(req, { stores, custom, apps, reserved }) : Promise.resolve(allow(decideAddressSpecDefaults(req)))),
  };
}
