import { expect } from "chai";
import { decideLease, microTime } from "../../../src/controller/lease.js";
import { Sightings } from "../../../src/controller/grace.js";

describe("controller/lease decideLease", () => {
  const other = { holderIdentity: "b", renewTime: microTime(new Date(0)), leaseDurationSeconds: 15, leaseTransitions: 2 };

  it("acquires a lease nobody holds, renews its own", () => {
    expect(decideLease(undefined, "a", 0, undefined, 15).action).to.equal("acquire");
    expect(decideLease({ holderIdentity: "" }, "a", 0, undefined, 15).action).to.equal("acquire");
    expect(decideLease({ ...other, holderIdentity: "a" }, "a", 0, undefined, 15).action).to.equal("renew");
  });

  it("waits while another holder's record keeps changing, by this process's clock", () => {
    let seen = decideLease(other, "a", 1_000, undefined, 15);
    expect(seen.action).to.equal("wait");
    seen = decideLease(other, "a", 15_999, seen.observed, 15);
    expect(seen.action).to.equal("wait");
    // The holder renewed: the clock starts again, whatever its renewTime says.
    const renewed = { ...other, renewTime: microTime(new Date(1)) };
    seen = decideLease(renewed, "a", 16_000, seen.observed, 15);
    expect(seen.action).to.equal("wait");
    expect(decideLease(renewed, "a", 30_999, seen.observed, 15).action).to.equal("wait");
    expect(decideLease(renewed, "a", 31_000, seen.observed, 15).action).to.equal("acquire");
  });

  it("never trusts the other machine's renewTime: an old timestamp first seen now is not expired", () => {
    expect(decideLease({ ...other, renewTime: microTime(new Date(0)) }, "a", Date.now(), undefined, 15).action).to.equal("wait");
  });

  it("writes MicroTime with six fractional digits, as the API server parses it", () => {
    expect(String(microTime(new Date(Date.UTC(2026, 10, 26, 12, 0, 0, 225))))).to.equal("2026-11-26T12:00:00.225000Z");
  });
});

describe("controller/grace Sightings", () => {
  const all = (): boolean => true;

  it("is ripe only after the grace period of being missing at every sweep", () => {
    const s = new Sightings(5_000);
    expect(s.missing("pool:p", "x", 0)).to.equal(false);
    s.endSweep(all);
    expect(s.missing("pool:p", "x", 4_999)).to.equal(false);
    s.endSweep(all);
    expect(s.missing("pool:p", "x", 5_000)).to.equal(true);
  });

  it("restarts the clock for something found again in a sweep that judged its subject", () => {
    const s = new Sightings(5_000);
    s.missing("pool:p", "x", 0);
    s.endSweep(all);
    s.endSweep(all); // x was found in this sweep
    expect(s.missing("pool:p", "x", 6_000)).to.equal(false);
    s.endSweep(all);
    expect(s.missing("pool:p", "x", 11_000)).to.equal(true);
  });

  it("keeps the clock of a subject a sweep did not judge, and names it among the open ones", () => {
    const s = new Sightings(5_000);
    s.missing("pool:p", "x", 0);
    s.missing("endpoint:ns/e", "y", 0);
    s.endSweep(all);
    expect([...s.open()].sort()).to.deep.equal(["endpoint:ns/e", "pool:p"]);
    s.missing("pool:p", "x", 3_000);
    s.endSweep((subject) => subject === "pool:p"); // the endpoint was not judged: its clock runs on
    expect(s.missing("endpoint:ns/e", "y", 5_000)).to.equal(true);
    s.endSweep((subject) => subject === "endpoint:ns/e"); // the pool was not judged either
    expect(s.missing("pool:p", "x", 5_000)).to.equal(true);
    s.endSweep(all);
    s.endSweep(all);
    expect(s.open().size).to.equal(0);
  });
});
