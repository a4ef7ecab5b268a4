/**
 * manifests/rbac/agent-node-scope.yaml against the real API server: pinpool-agent writes
 * only its own node's SpiderEndpoints. kubectl impersonates the agent as its pod's token
 * presents it: the service account, its groups, and the node the token is bound to (user
 * extra authentication.kubernetes.io/node-name). Objects of another node are made as the
 * test's admin, whom the policy does not match.
 */
import path from "node:path";
import { expect } from "chai";
import { API_VERSION, GROUP, PLURAL, type SpiderEndpoint, VERSION } from "../../src/api/types.js";
import { orUndefined } from "../../src/k8s/errors.js";
import { createNamespace, kubectl, kubectlOk, repoRoot, waitFor } from "../../scripts/cluster/local.js";
import { cluster } from "./setup.js";

const POLICY = "pinpool-agent-node-scope";
const AGENT = ["--as=system:serviceaccount:pinpool-system:pinpool-agent", "--as-group=system:serviceaccounts", "--as-group=system:serviceaccounts:pinpool-system"];
/** kubectl flags: the agent with the token of its pod on `node`. */
const agentOn = (node: string): string[] => [...AGENT, `--as-user-extra=authentication.kubernetes.io/node-name=${node}`];

/** The API server's refusal of a write to endpoint `name` by the policy, as kubectl prints it after its own prefix. */
const refusal = (name: string, message: string): string =>
  `spiderendpoints.${GROUP} "${name}" is forbidden: ValidatingAdmissionPolicy '${POLICY}' with binding '${POLICY}' denied request: ${message}`;

describe("agent node scope (ValidatingAdmissionPolicy pinpool-agent-node-scope)", function () {
  this.timeout(60_000);
  let namespace: string;

  /** A SpiderEndpoint of pod `name` (UID `uid`) on `node`, as the agent writes it, in JSON (kubectl reads it as YAML). */
  const endpoint = (name: string, node: string, uid: string, sandbox = `sandbox-${uid}`): string =>
    JSON.stringify({
      apiVersion: API_VERSION,
      kind: "SpiderEndpoint",
      metadata: { name, namespace },
      status: { current: { uid, node, containerID: sandbox, ips: [{ interface: "eth0", ipv4: "10.80.0.10/24", ipv4Pool: "node-scope-pool" }] } },
    });

  const stored = async (name: string): Promise<SpiderEndpoint | undefined> =>
    (await orUndefined(cluster().custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL.SpiderEndpoint, namespace, name }))) as SpiderEndpoint | undefined;

  before(async () => {
    await kubectlOk(["apply", "-f", path.join(repoRoot, "manifests/namespace.yaml")]);
    await kubectlOk(["apply", "-k", path.join(repoRoot, "manifests/rbac")]);
    namespace = await createNamespace(cluster().core, "node-scope");
    // The policy takes effect through an informer: wait until a dry run is refused by it.
    await waitFor("the node-scope policy to refuse", 30_000, async () => {
      const r = await kubectl(["create", "--dry-run=server", "-n", namespace, "-f", "-", ...agentOn("node-a")], endpoint("probe", "node-b", "uid-probe"));
      return r.stderr.includes(POLICY) ? true : undefined;
    });
  });

  after(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
  });

  it("refuses node-a's agent creating an endpoint of node-b, naming both nodes", async () => {
    const r = await kubectl(["create", "-n", namespace, "-f", "-", ...agentOn("node-a")], endpoint("web-b", "node-b", "uid-b"));
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal(
      `Error from server (Forbidden): error when creating "STDIN": ${refusal("web-b", `pinpool-agent on node "node-a" may not create SpiderEndpoint ${namespace}/web-b to record node "node-b": an agent records the pods of its own node only`)}\n`,
    );
    expect(await stored("web-b")).to.equal(undefined);
  });

  it("lets node-a's agent create, update and delete its own node's endpoint", async () => {
    const created = await kubectl(["create", "-n", namespace, "-f", "-", ...agentOn("node-a")], endpoint("web-a", "node-a", "uid-a"));
    expect(created.stderr).to.equal("");
    expect(created.code).to.equal(0);
    expect((await stored("web-a"))?.status?.current?.node).to.equal("node-a");
    // A newer sandbox of the same pod (the agent's update after a create met AlreadyExists).
    const replaced = await kubectl(["replace", "-n", namespace, "-f", "-", ...agentOn("node-a")], endpoint("web-a", "node-a", "uid-a", "sandbox-2"));
    expect(replaced.stderr).to.equal("");
    expect((await stored("web-a"))?.status?.current?.containerID).to.equal("sandbox-2");
    // --wait=false: waiting would watch endpoints, which the agent may not.
    const deleted = await kubectl(["delete", "spiderendpoint", "web-a", "-n", namespace, "--wait=false", ...agentOn("node-a")]);
    expect(deleted.stderr).to.equal("");
    expect(deleted.code).to.equal(0);
    expect(await stored("web-a")).to.equal(undefined);
  });

  it("refuses node-a's agent rewriting or deleting node-b's endpoint of the same pod", async () => {
    await kubectlOk(["create", "-n", namespace, "-f", "-"], endpoint("db-0", "node-b", "uid-db"));
    const moved = await kubectl(["replace", "-n", namespace, "-f", "-", ...agentOn("node-a")], endpoint("db-0", "node-a", "uid-db"));
    expect(moved.stderr).to.equal(
      `Error from server (Forbidden): error when replacing "STDIN": ${refusal("db-0", `pinpool-agent on node "node-a" may not update SpiderEndpoint ${namespace}/db-0 of node "node-b" for the same pod (UID uid-db): a pod never changes node; only a newer pod of that name (another UID) takes the endpoint to another node`)}\n`,
    );
    const deleted = await kubectl(["delete", "spiderendpoint", "db-0", "-n", namespace, "--wait=false", ...agentOn("node-a")]);
    expect(deleted.stderr).to.equal(
      `Error from server (Forbidden): ${refusal("db-0", `pinpool-agent on node "node-a" may not delete SpiderEndpoint ${namespace}/db-0 of node "node-b": an agent deletes the endpoints of its own node only`)}\n`,
    );
    expect((await stored("db-0"))?.status?.current?.node).to.equal("node-b");
  });

  it("lets node-a's agent take over node-b's endpoint for a newer pod of that name (a StatefulSet pod recreated on node-a)", async () => {
    await kubectlOk(["create", "-n", namespace, "-f", "-"], endpoint("web-0", "node-b", "uid-old"));
    const taken = await kubectl(["replace", "-n", namespace, "-f", "-", ...agentOn("node-a")], endpoint("web-0", "node-a", "uid-new"));
    expect(taken.stderr).to.equal("");
    expect((await stored("web-0"))?.status?.current).to.deep.include({ node: "node-a", uid: "uid-new" });
  });

  it("refuses the agent's writes when its credential names no node (a token not bound to a pod)", async () => {
    const r = await kubectl(["create", "-n", namespace, "-f", "-", ...AGENT], endpoint("web-x", "node-a", "uid-x"));
    expect(r.stderr).to.equal(
      `Error from server (Forbidden): error when creating "STDIN": ${refusal("web-x", `pinpool-agent may not create SpiderEndpoint ${namespace}/web-x: its credential names no node (user extra authentication.kubernetes.io/node-name); the agent writes endpoints only with the token of its pod, which is bound to a node`)}\n`,
    );
  });
});
