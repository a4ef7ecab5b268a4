import { expect } from "chai";
import { ANNOTATION } from "../../../src/api/annotations.js";
import { autoPoolName } from "../../../src/api/names.js";
import { decideWorkload } from "../../../src/webhook/mutate-workload.js";
import { loadRequest } from "../../fixtures/load.js";

const pool = autoPoolName({ namespace: "default", kind: "Deployment", name: "nginx" }, "eth0", 4, "nginx-subnet-v4");
const reserved = `[{"interface":"eth0","ipv4":["${pool}"]}]`;

describe("webhook/decideWorkload (the seed's Deployment)", () => {
  it("plans a pool of replicas + 3 and patches the template annotation, escaping the key", () => {
    const d = decideWorkload(loadRequest("deployment-create"));
    if ("verdict" in d) throw new Error(d.verdict.allowed ? "allowed" : d.verdict.message);
    expect(d.plan?.pools).to.deep.equal([{ name: pool, interface: "eth0", family: 4, subnet: "nginx-subnet-v4", size: 5 }]);
    expect(d.patch).to.deep.equal([{ op: "add", path: "/spec/template/metadata/annotations/pinpool.io~1reserved-ippools", value: reserved }]);
  });

  it("returns byte-identical patches on every call, dry run included", () => {
    const a = decideWorkload(loadRequest("deployment-create"));
    const b = decideWorkload(loadRequest("deployment-create-dryrun"));
    expect(JSON.stringify(a)).to.equal(JSON.stringify(b));
  });

  it("refuses generateName: the reservation is keyed on the name", () => {
    const d = decideWorkload(loadRequest("deployment-create-generatename"));
    expect(d).to.deep.equal({
      verdict: { allowed: false, code: 422, message: 'deployment with generateName "nginx-": pinpool reserves the pool by the workload\'s name, which is not known yet; set metadata.name' },
    });
  });

  it("re-plans an UPDATE whose stored object was never reserved", () => {
    const d = decideWorkload(loadRequest("deployment-update-label"));
    expect("plan" in d && d.plan?.pools[0]?.size).to.equal(5);
  });

  it("does no reservation work for an UPDATE that changes nothing it depends on, but keeps the annotation", () => {
    const d = decideWorkload(
      loadRequest("deployment-update-label", (r) => {
        const old = r.oldObject as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
        old.spec.template.metadata.annotations[ANNOTATION.reserved] = reserved;
      }),
    );
    expect(d).to.deep.include({ plan: undefined });
    expect("patch" in d && d.patch).to.have.length(1);
  });

  it("re-plans an UPDATE that changes the replicas", () => {
    const d = decideWorkload(
      loadRequest("deployment-update-label", (r) => {
        const old = r.oldObject as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
        old.spec.template.metadata.annotations[ANNOTATION.reserved] = reserved;
        (r.object as { spec: { replicas: number } }).spec.replicas = 7;
      }),
    );
    expect("plan" in d && d.plan?.pools[0]?.size).to.equal(10);
  });

  it("sizes a StatefulSet without ippool-ip-number at replicas + 1", () => {
    const d = decideWorkload(loadRequest("statefulset-create"));
    expect("plan" in d && d.plan?.pools.map((p) => [p.name.startsWith("auto4-web-eth0-"), p.size])).to.deep.equal([[true, 4]]);
  });

  it("ignores DELETE and workloads without subnet annotations", () => {
    expect(decideWorkload(loadRequest("deployment-delete"))).to.deep.equal({ plan: undefined, patch: [] });
    const plain = decideWorkload(
      loadRequest("deployment-create", (r) => {
        (r.object as { spec: { template: { metadata: { annotations?: unknown } } } }).spec.template.metadata.annotations = undefined;
      }),
    );
    expect(plain).to.deep.equal({ plan: undefined, patch: [] });
  });

  const badAnnotations: Array<[string, string, string]> = [
    [ANNOTATION.subnet, "{ipv4:[x]}", 'deployment "nginx": annotation ipam.spidernet.io/subnet: "{ipv4:[x]}" is not valid JSON'],
    [ANNOTATION.subnet, '{"ipv4":[]}', 'names no subnet; give ipv4, ipv6 or both'],
    [ANNOTATION.subnet, '{"ipv4":["Bad_Name"]}', ".ipv4 must be a list of SpiderSubnet names (lower-case DNS names)"],
    [ANNOTATION.ipNumber, "-2", 'annotation ipam.spidernet.io/ippool-ip-number: "-2" is not allowed; expected "+N" (replicas + N addresses) or "N" (exactly N)'],
    [ANNOTATION.ipNumber, "ten", 'annotation ipam.spidernet.io/ippool-ip-number: "ten" is not allowed'],
    [ANNOTATION.ipNumber, "0", 'annotation ipam.spidernet.io/ippool-ip-number: "0" would reserve no address; use "+0" for exactly the replicas, or N ≥ 1'],
    [ANNOTATION.reclaim, "yes", 'annotation ipam.spidernet.io/ippool-reclaim: "yes" is not allowed; expected "true" or "false"'],
    [ANNOTATION.subnets, '[{"interface":"eth0","ipv4":["a"]},{"interface":"eth0","ipv4":["b"]}]', 'names interface "eth0" twice; each interface once'],
    [ANNOTATION.subnets, '[{"interface":"eth0","ipv4":["a"]},{"interface":"net1","ipv4":["a"]}]', 'uses SpiderSubnet "a" for both "eth0" and "net1"; one subnet serves one interface'],
  ];
  for (const [key, value, message] of badAnnotations) {
    it(`denies ${key}: ${value} naming the annotation, the value and what is allowed`, () => {
      const d = decideWorkload(
        loadRequest("deployment-create", (r) => {
          (r.object as { spec: { template: { metadata: { annotations: Record<string, string> } } } }).spec.template.metadata.annotations[key] = value;
        }),
      );
      expect("verdict" in d && !d.verdict.allowed && d.verdict.code).to.equal(422);
      expect("verdict" in d && !d.verdict.allowed && d.verdict.message).to.include(message);
    });
  }
});
