import { Counter, type Registry } from "prom-client";
import { METRIC } from "./names.js";

/** The compare-and-swap conflict counter, the same in the controller's and each agent's registry. */
export function casConflictCounter(registry: Registry): Counter<"object"> {
  return new Counter({
    name: METRIC.casConflicts,
    help: "Compare-and-swap writes that met a concurrent writer (409) and were retried, by object kind.",
    labelNames: ["object"],
    registers: [registry],
  });
}

/** "SpiderSubnet \"a\"'s ledger" → "SpiderSubnet's ledger": one label value per kind of object. */
export function conflictLabel(what: string): string {
  return what.replace(/ "[^"]*"/g, "");
}
