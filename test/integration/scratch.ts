/**
 * What a suite of integration tests sets up around each test: the controller running, a
 * fresh namespace, and afterwards the namespace, then the pools, then the subnets a test
 * recorded in `made` deleted (a subnet that still hands addresses to pools may not be).
 */
import { createNamespace, deleteSpiderObjects, kubectl } from "../../scripts/cluster/local.js";
import { cluster, pinpoolController } from "./setup.js";

export interface Scratch {
  readonly made: { pools: Set<string>; subnets: Set<string> };
  /** The current test's namespace. */
  namespace(): string;
}

/** Registers the hooks in the calling `describe`; `afterEach` runs after the namespace is gone, before the pools go. */
export function scratchPerTest(afterEachTest?: () => Promise<unknown>): Scratch {
  const made = { pools: new Set<string>(), subnets: new Set<string>() };
  let current = "";
  before(async () => {
    await pinpoolController();
  });
  beforeEach(async () => {
    current = await createNamespace(cluster().core);
  });
  afterEach(async () => {
    await kubectl(["delete", "namespace", current, "--wait=true"]);
    await afterEachTest?.();
    await deleteSpiderObjects(cluster().custom, "spiderippools", made.pools);
    await deleteSpiderObjects(cluster().custom, "spidersubnets", made.subnets);
    made.pools.clear();
    made.subnets.clear();
  });
  return { made, namespace: () => current };
}
