/**
 * The installable manifests (manifests/, a kustomize tree) against the real API server:
 * the whole tree passes a server-side dry run, its non-image parts (namespace, CRDs, RBAC)
 * are applied for real, and the RBAC rules allow exactly the API calls the code makes; the
 * agent's endpoint writes are all matched by its node-scope policy (whose refusals
 * test/integration/agent-node-scope.test.ts checks).
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import YAML from "yaml";
import { kubectl, kubectlOk, repoRoot, runProcess } from "../../scripts/cluster/local.js";
import { cluster } from "./setup.js";

type Call = { verb: string; resource: string; group?: string; subresource?: string; namespace?: string };
type Component = "controller" | "agent";

const NS = "pinpool-system";
const spider = (verb: string, resource: string, subresource?: string): Call => ({ verb, resource, group: "spiderpool.spidernet.io", ...(subresource ? { subresource } : {}) });

/**
 * Every client method the code calls, per component, and the permissions each needs. The
 * CustomObjects methods name their plural at run time: their entries list the plurals the
 * component uses them with (read from the callers).
 */
const CALLS: Record<Component, Record<string, Call[]>> = {
  controller: {
    getClusterCustomObject: [spider("get", "spidersubnets"), spider("get", "spiderippools")],
    listClusterCustomObject: [spider("list", "spidersubnets"), spider("list", "spiderippools"), spider("list", "spiderendpoints"), spider("list", "spiderreservedips")],
    // The leader's mirror (src/controller/cluster-cache.ts through src/k8s/reflector.ts's Watch.watch).
    watch: [
      spider("watch", "spiderippools"),
      spider("watch", "spidersubnets"),
      spider("watch", "spiderendpoints"),
      ...["pods", "nodes", "namespaces"].map((resource) => ({ verb: "watch", resource })),
      ...["deployments", "statefulsets"].map((resource) => ({ verb: "watch", resource, group: "apps" })),
    ],
    createClusterCustomObject: [spider("create", "spiderippools")],
    replaceClusterCustomObject: [spider("update", "spiderippools"), spider("update", "spidersubnets")],
    replaceClusterCustomObjectStatus: [spider("update", "spidersubnets", "status"), spider("update", "spiderippools", "status")],
    deleteClusterCustomObject: [spider("delete", "spiderippools")],
    deleteNamespacedCustomObject: [spider("delete", "spiderendpoints")],
    createNamespacedCustomObject: [spider("create", "spiderendpoints")],
    readNamespacedConfigMap: [{ verb: "get", resource: "configmaps", namespace: NS }],
    createNamespacedConfigMap: [{ verb: "create", resource: "configmaps", namespace: NS }],
    replaceNamespacedConfigMap: [{ verb: "update", resource: "configmaps", namespace: NS }],
    // The subnet ledgers' parts (src/reservation/subnet-ledger-parts.ts): listed and watched, deleted with their subnet.
    listNamespacedConfigMap: [{ verb: "list", resource: "configmaps", namespace: NS }],
    ListWatch: [{ verb: "watch", resource: "configmaps", namespace: NS }],
    deleteNamespacedConfigMap: [{ verb: "delete", resource: "configmaps", namespace: NS }],
    readNamespacedLease: [{ verb: "get", resource: "leases", group: "coordination.k8s.io", namespace: NS }],
    createNamespacedLease: [{ verb: "create", resource: "leases", group: "coordination.k8s.io", namespace: NS }],
    replaceNamespacedLease: [{ verb: "update", resource: "leases", group: "coordination.k8s.io", namespace: NS }],
    createNamespacedEvent: [{ verb: "create", resource: "events", namespace: "default" }],
    readNamespacedPod: [{ verb: "get", resource: "pods" }],
    listPodForAllNamespaces: [{ verb: "list", resource: "pods" }],
    readNode: [{ verb: "get", resource: "nodes" }],
    listNode: [{ verb: "list", resource: "nodes" }],
    readNamespace: [{ verb: "get", resource: "namespaces" }],
    listNamespace: [{ verb: "list", resource: "namespaces" }],
    readNamespacedDeployment: [{ verb: "get", resource: "deployments", group: "apps" }],
    listDeploymentForAllNamespaces: [{ verb: "list", resource: "deployments", group: "apps" }],
    readNamespacedStatefulSet: [{ verb: "get", resource: "statefulsets", group: "apps" }],
    listStatefulSetForAllNamespaces: [{ verb: "list", resource: "statefulsets", group: "apps" }],
  },
  agent: {
    getClusterCustomObject: [spider("get", "spiderippools")],
    listClusterCustomObject: [spider("list", "spiderippools"), spider("list", "spiderreservedips")],
    replaceClusterCustomObjectStatus: [spider("update", "spiderippools", "status")],
    getNamespacedCustomObject: [spider("get", "spiderendpoints")],
    createNamespacedCustomObject: [spider("create", "spiderendpoints")],
    replaceNamespacedCustomObject: [spider("update", "spiderendpoints")],
    deleteNamespacedCustomObject: [spider("delete", "spiderendpoints")],
    readNamespacedPod: [{ verb: "get", resource: "pods" }],
    listPodForAllNamespaces: [{ verb: "list", resource: "pods" }],
    // The watch caches (src/k8s/watch-cache.ts): the node's pods, every pool and reserved IP.
    ListWatch: [{ verb: "watch", resource: "pods" }, spider("watch", "spiderippools"), spider("watch", "spiderreservedips")],
    readNamespace: [{ verb: "get", resource: "namespaces" }],
    readNode: [{ verb: "get", resource: "nodes" }],
    readNamespacedStatefulSet: [{ verb: "get", resource: "statefulsets", group: "apps" }],
    readNamespacedReplicaSet: [{ verb: "get", resource: "replicasets", group: "apps" }],
    getAPIResources: [], // discovery: every authenticated user may (system:discovery)
  },
};

/** Which components run a source file's calls: the agent's folder is the agent's; modules both import count for both. */
function componentsOf(file: string): Component[] {
  if (file.startsWith("src/agent/")) return ["agent"];
  if (file === "src/k8s/resources.ts" || file === "src/reservation/reserved-ips.ts") return ["agent", "controller"];
  if (file === "src/k8s/watch-cache.ts") return ["agent", "controller"];
  return ["controller"];
}

const API_CLASSES = [k8s.CoreV1Api, k8s.AppsV1Api, k8s.CustomObjectsApi, k8s.CoordinationV1Api];
const isApiMethod = (name: string): boolean => name === "ListWatch" || name === "watch" || API_CLASSES.some((c) => typeof (c.prototype as unknown as Record<string, unknown>)[name] === "function");

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(repoRoot, dir)).flatMap((f) => {
    const rel = `${dir}/${f}`;
    return statSync(path.join(repoRoot, rel)).isDirectory() ? sourceFiles(rel) : rel.endsWith(".ts") ? [rel] : [];
  });
}

/** Every (file, API method) the code calls. */
function apiCallsInSource(): Array<{ file: string; method: string }> {
  return sourceFiles("src").flatMap((file) =>
    [...new Set([...readFileSync(path.join(repoRoot, file), "utf8").matchAll(/\.([a-zA-Z]+)(?:<[^>]*>)?\(/g)].map((m) => m[1] as string))]
      .filter(isApiMethod)
      .map((method) => ({ file, method })),
  );
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

function rulesOf(file: string): Rule[] {
  return YAML.parseAllDocuments(readFileSync(path.join(repoRoot, "manifests/rbac", file), "utf8"))
    .map((d) => d.toJSON() as { kind: string; rules?: Rule[] })
    .filter((d) => d.kind === "ClusterRole" || d.kind === "Role")
    .flatMap((d) => d.rules ?? []);
}

async function allowed(component: Component, call: Call): Promise<boolean> {
  const auth = cluster().kc.makeApiClient(k8s.AuthorizationV1Api);
  const review = await auth.createSubjectAccessReview({
    body: {
      spec: {
        user: `system:serviceaccount:${NS}:pinpool-${component}`,
        groups: ["system:serviceaccounts", `system:serviceaccounts:${NS}`, "system:authenticated"],
        resourceAttributes: { verb: call.verb, resource: call.resource, group: call.group ?? "", ...(call.subresource ? { subresource: call.subresource } : {}), ...(call.namespace ? { namespace: call.namespace } : {}) },
      },
    },
  });
  return review.status?.allowed === true;
}

describe("installable manifests (kubectl apply -k manifests)", function () {
  this.timeout(120_000);

  before(async () => {
    await runProcess("bash", [path.join(repoRoot, "webhook-certs/generate.sh"), path.join(repoRoot, "manifests/certs")]);
    // The non-image parts, for real.
    await kubectlOk(["apply", "-f", path.join(repoRoot, "manifests/namespace.yaml")]);
    await kubectlOk(["apply", "-k", path.join(repoRoot, "manifests/crds")]);
    await kubectlOk(["apply", "-k", path.join(repoRoot, "manifests/rbac")]);
  });

  it("passes a server-side dry run as a whole: controller, agent, PDB, Service, webhooks with caBundle from webhook-certs", async () => {
    const r = await kubectl(["apply", "-k", path.join(repoRoot, "manifests"), "--dry-run=server"]);
    expect(r.stderr).to.equal("");
    for (const object of [
      "deployment.apps/pinpool-controller",
      "daemonset.apps/pinpool-agent",
      "poddisruptionbudget.policy/pinpool-controller",
      "service/pinpool-webhook",
      "validatingwebhookconfiguration.admissionregistration.k8s.io/pinpool-validating",
      "mutatingwebhookconfiguration.admissionregistration.k8s.io/pinpool-mutating",
      "validatingadmissionpolicy.admissionregistration.k8s.io/pinpool-agent-node-scope",
      "validatingadmissionpolicybinding.admissionregistration.k8s.io/pinpool-agent-node-scope",
    ]) {
      expect(r.stdout).to.match(new RegExp(`^${object.replace(/\./g, "\\.")} .*\\(server dry run\\)$`, "m"));
    }
    type Webhook = { name: string; failurePolicy: string; clientConfig: { caBundle: string }; rules: Array<{ resources: string[] }> };
    const rendered = YAML.parseAllDocuments(await kubectlOk(["kustomize", path.join(repoRoot, "manifests")])).map((d) => d.toJSON() as { kind: string; webhooks?: Webhook[] });
    const ca = readFileSync(path.join(repoRoot, "manifests/certs/ca.crt"), "utf8");
    const webhooks = rendered.flatMap((d) => d.webhooks ?? []);
    const bundles = webhooks.map((w) => Buffer.from(w.clientConfig.caBundle, "base64").toString());
    expect(bundles).to.have.length(4); // validate; mutate workloads; mutate /scale; mutate Spider defaults
    for (const b of bundles) expect(b).to.equal(ca);
    // Fail open only where a backstop repairs: a missed /scale is resized by the sweep; nothing else.
    const policies = Object.fromEntries(webhooks.map((w) => [w.name, `${w.failurePolicy} ${w.rules.flatMap((r) => r.resources).join(",")}`]));
    expect(policies).to.deep.equal({
      "validate.pinpool.io": "Fail spidersubnets,spiderippools,spiderreservedips",
      "workloads.pinpool.io": "Fail deployments,statefulsets",
      "scale.pinpool.io": "Ignore deployments/scale,statefulsets/scale",
      "spider-defaults.pinpool.io": "Fail spidersubnets,spiderippools,spiderreservedips",
    });
  });

  it("lists every API call the code makes", () => {
    const missing = apiCallsInSource().flatMap(({ file, method }) => (componentsOf(file).some((c) => method in CALLS[c]) ? [] : [`${file}: ${method}`]));
    expect(missing, "API calls without an entry in CALLS (add it, and the RBAC rule it needs)").to.deep.equal([]);
  });

  for (const component of ["controller", "agent"] as const) {
    it(`lets pinpool-${component} make each of its calls`, async () => {
      const refused: string[] = [];
      for (const [method, calls] of Object.entries(CALLS[component])) {
        for (const call of calls) if (!(await allowed(component, call))) refused.push(`${method}: ${JSON.stringify(call)}`);
      }
      expect(refused).to.deep.equal([]);
    });

    it(`grants pinpool-${component} nothing its calls do not use`, () => {
      const used = new Set(Object.values(CALLS[component]).flat().map((c) => `${c.group ?? ""}/${c.resource}${c.subresource ? `/${c.subresource}` : ""}:${c.verb}`));
      const granted = rulesOf(`${component}.yaml`).flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`))));
      expect(granted.filter((g) => !used.has(g))).to.deep.equal([]);
    });
  }

  it("refuses what neither needs: secrets, and pool deletion by the agent", async () => {
    expect(await allowed("controller", { verb: "get", resource: "secrets", namespace: NS })).to.equal(false);
    expect(await allowed("agent", { verb: "list", resource: "secrets" })).to.equal(false);
    expect(await allowed("agent", spider("delete", "spiderippools"))).to.equal(false);
    expect(await allowed("agent", spider("update", "spiderippools"))).to.equal(false);
  });

  it("refuses the agent what would get round its node-scope policy: other endpoint verbs, a status subresource, the policy itself", async () => {
    const refused = [
      spider("list", "spiderendpoints"), // the agent reads endpoints by name only
      spider("patch", "spiderendpoints"),
      spider("deletecollection", "spiderendpoints"),
      spider("update", "spiderendpoints", "status"), // the policy matches the resource, not subresources
      ...["update", "delete"].flatMap((verb) =>
        ["validatingadmissionpolicies", "validatingadmissionpolicybindings"].map((resource) => ({ verb, resource, group: "admissionregistration.k8s.io" })),
      ),
    ];
    const allowedCalls: string[] = [];
    for (const call of refused) if (await allowed("agent", call)) allowedCalls.push(JSON.stringify(call));
    expect(allowedCalls).to.deep.equal([]);
  });

  it("matches every SpiderEndpoint write the agent's RBAC grants in agent-node-scope.yaml", () => {
    const operation: Record<string, string> = { create: "CREATE", update: "UPDATE", patch: "UPDATE", delete: "DELETE", deletecollection: "DELETE" };
    const granted = rulesOf("agent.yaml")
      .filter((r) => r.apiGroups.includes("spiderpool.spidernet.io"))
      .flatMap((r) => r.resources.filter((res) => res.split("/")[0] === "spiderendpoints").flatMap((res) => r.verbs.filter((v) => v in operation).map((v) => `${res} ${operation[v]}`)));
    type Policy = { kind: string; spec: { matchConstraints: { resourceRules: Array<{ resources: string[]; operations: string[] }> } } };
    const policy = YAML.parseAllDocuments(readFileSync(path.join(repoRoot, "manifests/rbac/agent-node-scope.yaml"), "utf8"))
      .map((d) => d.toJSON() as Policy)
      .find((d) => d.kind === "ValidatingAdmissionPolicy");
    const matched = new Set(policy?.spec.matchConstraints.resourceRules.flatMap((r) => r.resources.flatMap((res) => r.operations.map((op) => `${res} ${op}`))));
    expect(granted).to.include.members(["spiderendpoints CREATE", "spiderendpoints UPDATE", "spiderendpoints DELETE"]);
    expect(granted.filter((g) => !matched.has(g))).to.deep.equal([]);
  });
});
