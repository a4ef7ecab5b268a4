import { expect } from "chai";
import { SourceRateLimiter } from "../../../src/webhook/rate-limit.js";

describe("per-source rate limiting of reviews", () => {
  it("lets a source make its burst at once, then its rate, and tells how long to wait", () => {
    let now = 0;
    const limiter = new SourceRateLimiter({ perSecond: 2, burst: 3 }, () => now);
    expect([1, 2, 3].map(() => limiter.take("10.0.0.9"))).to.deep.equal([0, 0, 0]);
    expect(limiter.take("10.0.0.9")).to.equal(1);
    now = 500; // half a second: one more token
    expect(limiter.take("10.0.0.9")).to.equal(0);
    expect(limiter.take("10.0.0.9")).to.equal(1);
  });

  it("keeps sources apart: one flooding source does not slow another", () => {
    const limiter = new SourceRateLimiter({ perSecond: 1, burst: 1 }, () => 0);
    expect(limiter.take("10.0.0.9")).to.equal(0);
    expect(limiter.take("10.0.0.9")).to.equal(1);
    expect(limiter.take("192.0.2.2")).to.equal(0);
  });

  it("forgets the least recently seen source beyond maxSources (a spray of addresses costs bounded memory)", () => {
    const limiter = new SourceRateLimiter({ perSecond: 1, burst: 1, maxSources: 2 }, () => 0);
    limiter.take("a");
    limiter.take("b");
    limiter.take("a"); // a is now the most recent, and empty
    limiter.take("c"); // b is forgotten
    expect(limiter.take("a")).to.equal(1);
    expect(limiter.take("b")).to.equal(0);
  });
});
