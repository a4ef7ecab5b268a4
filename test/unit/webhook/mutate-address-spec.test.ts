import { expect } from "chai";
import { RELEASE_FINALIZER } from "../../../src/api/types.js";
import { decideAddressSpecDefaults } from "../../../src/webhook/mutate-address-spec.js";
import { loadRequest } from "../../fixtures/load.js";

describe("webhook/mutate SpiderIPPool defaults", () => {
  it("adds pinpool's finalizer to a new pool, and infers spec.ipVersion when left out", () => {
    const req = loadRequest("spiderippool-create", (r) => delete (r.object as { spec: { ipVersion?: number } }).spec.ipVersion);
    expect(decideAddressSpecDefaults(req)).to.have.deep.members([
      { op: "add", path: "/metadata/finalizers", value: [RELEASE_FINALIZER] },
      { op: "add", path: "/spec/ipVersion", value: 4 },
    ]);
  });

  it("keeps a finalizer list the user wrote, adding pinpool's once", () => {
    const req = loadRequest("spiderippool-create", (r) => ((r.object as { metadata: { finalizers?: string[] } }).metadata.finalizers = ["example.com/keep"]));
    expect(decideAddressSpecDefaults(req)).to.deep.equal([{ op: "add", path: "/metadata/finalizers/1", value: RELEASE_FINALIZER }]);
    const again = loadRequest("spiderippool-create", (r) => ((r.object as { metadata: { finalizers?: string[] } }).metadata.finalizers = [RELEASE_FINALIZER]));
    expect(decideAddressSpecDefaults(again)).to.deep.equal([]);
  });

  it("adds no finalizer on UPDATE (a pool created before pinpool keeps the DELETE check)", () => {
    expect(decideAddressSpecDefaults(loadRequest("spiderippool-update"))).to.deep.equal([]);
  });
});
