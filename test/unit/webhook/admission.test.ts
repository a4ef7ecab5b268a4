import { expect } from "chai";
import { AdmissionFormatError, buildAdmissionReview, parseAdmissionReview } from "../../../src/webhook/admission.js";
import { allow, deny } from "../../../src/api/verdict.js";
import { loadReview } from "../../fixtures/load.js";

describe("webhook/admission codec", () => {
  it("parses every captured review", () => {
    for (const name of ["deployment-create", "deployment-create-dryrun", "deployment-scale", "deployment-delete", "spiderippool-update"]) {
      const req = parseAdmissionReview(loadReview(name));
      expect(req.uid).to.match(/^[0-9a-f-]{36}$/);
    }
    expect(parseAdmissionReview(loadReview("deployment-create-dryrun")).dryRun).to.equal(true);
    const scale = parseAdmissionReview(loadReview("deployment-scale"));
    expect([scale.subResource, scale.kind.kind, scale.name]).to.deep.equal(["scale", "Scale", "nginx"]);
    const del = parseAdmissionReview(loadReview("deployment-delete"));
    expect([del.operation, del.object]).to.deep.equal(["DELETE", null]);
  });

  const malformed: Array<[string, unknown, string]> = [
    ["not an object", "hello", "AdmissionReview: expected a JSON object, got string"],
    ["null", null, "AdmissionReview: expected a JSON object, got null"],
    ["the wrong apiVersion", { apiVersion: "admission.k8s.io/v1beta1", kind: "AdmissionReview" }, 'AdmissionReview apiVersion/kind: got "admission.k8s.io/v1beta1"/"AdmissionReview", expected "admission.k8s.io/v1"/"AdmissionReview"'],
    ["no request", { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }, "AdmissionReview request: got nothing, expected an object"],
  ];
  for (const [what, body, message] of malformed) {
    it(`rejects ${what}, naming the field`, () => {
      expect(() => parseAdmissionReview(body)).to.throw(AdmissionFormatError, message);
    });
  }

  it("rejects a request with a bad uid, operation or missing object", () => {
    const review = (edit: (r: Record<string, unknown>) => void): unknown => {
      const r = loadReview("deployment-create");
      edit(r.request as Record<string, unknown>);
      return r;
    };
    expect(() => parseAdmissionReview(review((r) => (r.uid = "")))).to.throw('AdmissionReview request.uid: got "", expected a non-empty string');
    expect(() => parseAdmissionReview(review((r) => (r.operation = "PATCH")))).to.throw('AdmissionReview request.operation: got "PATCH", expected CREATE, UPDATE, DELETE, CONNECT');
    expect(() => parseAdmissionReview(review((r) => (r.object = null)))).to.throw("AdmissionReview request.object: missing on CREATE, expected the object");
    expect(() => parseAdmissionReview(review((r) => (r.object = [1])))).to.throw("AdmissionReview request.object: got [1], expected an object or null");
  });

  it("echoes the uid and sends patchType only with a patch", () => {
    expect(buildAdmissionReview("u1", allow())).to.deep.equal({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: "u1", allowed: true } });
    expect(buildAdmissionReview("u1", allow([]))).to.deep.equal({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: "u1", allowed: true } });
    const patched = buildAdmissionReview("u2", allow([{ op: "add", path: "/a", value: 1 }], ["w"])).response;
    expect(patched.patchType).to.equal("JSONPatch");
    expect(JSON.parse(Buffer.from(patched.patch as string, "base64").toString())).to.deep.equal([{ op: "add", path: "/a", value: 1 }]);
    expect(patched.warnings).to.deep.equal(["w"]);
  });

  it("denies with a code and the reason kubectl shows", () => {
    expect(buildAdmissionReview("u3", deny("no")).response).to.deep.equal({ uid: "u3", allowed: false, status: { code: 403, message: "no", reason: "Forbidden" } });
    expect(buildAdmissionReview("u3", deny("bad", 422)).response.status?.reason).to.equal("Invalid");
  });
});
