import { expect } from "chai";
import { ApiServerSources } from "../../../src/webhook/sources.js";

describe("webhook/ApiServerSources (PINPOOL_WEBHOOK_API_SERVERS)", () => {
  it("knows the API servers' addresses, IPv4 as Node reports it mapped into IPv6 too", () => {
    const sources = ApiServerSources.parse(" 192.0.2.0/28, fd00::2 ");
    expect(["192.0.2.7", "::ffff:192.0.2.15", "fd00::2"].map((ip) => sources.includes(ip))).to.deep.equal([true, true, true]);
    expect(["192.0.2.16", "fd00::3", "not-an-ip", ""].map((ip) => sources.includes(ip))).to.deep.equal([false, false, false, false]);
  });

  it("refuses a bad entry, naming the setting, the list and the entry", () => {
    expect(() => ApiServerSources.parse("10.0.0.1/24,x")).to.throw(/^PINPOOL_WEBHOOK_API_SERVERS="10.0.0.1\/24,x": .*10\.0\.0\.1\/24.*expected CIDRs or addresses, comma-separated$/);
  });
});
