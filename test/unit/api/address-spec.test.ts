import { expect } from "chai";
import { parseAddressSpec } from "../../../src/api/address-spec.js";

describe("api/parseAddressSpec", () => {
  it("counts spec.ips less spec.excludeIPs, as TOTAL-IP-COUNT shows", () => {
    const parsed = parseAddressSpec({ subnet: "10.244.0.0/16", ips: ["10.244.100.90-10.244.200.91"], excludeIPs: ["10.244.100.95"] });
    expect(parsed.family).to.equal(4);
    expect(parsed.addresses.size).to.equal(25601n);
    expect(parsed.gateway).to.equal(undefined);
  });

  it("infers the family from the CIDR and refuses a contradicting ipVersion", () => {
    expect(parseAddressSpec({ subnet: "fd00::/64", ips: ["fd00::10-fd00::1f"], gateway: "fd00::1" }).family).to.equal(6);
    expect(() => parseAddressSpec({ ipVersion: 4, subnet: "fd00::/64" })).to.throw(
      "invalid spec.ipVersion 4: spec.subnet fd00::/64 is IPv6; set spec.ipVersion to 6 or leave it out",
    );
  });

  it("names the field and the addresses that lie outside the subnet", () => {
    expect(() => parseAddressSpec({ subnet: "10.244.0.0/16", ips: ["10.244.255.250-10.245.0.5"] })).to.throw(
      'invalid spec.ips "10.245.0.0-10.245.0.5": outside spec.subnet 10.244.0.0/16',
    );
    expect(() => parseAddressSpec({ subnet: "10.244.0.0/16", excludeIPs: ["10.1.0.1"] })).to.throw(
      'invalid spec.excludeIPs "10.1.0.1": outside spec.subnet 10.244.0.0/16',
    );
    expect(() => parseAddressSpec({ subnet: "10.244.0.0/16", gateway: "10.1.0.1" })).to.throw(
      'invalid spec.gateway "10.1.0.1": outside spec.subnet 10.244.0.0/16',
    );
    expect(() => parseAddressSpec({ subnet: "10.244.0.0/16", gateway: "fd00::1" })).to.throw(
      'invalid spec.gateway "fd00::1": it is IPv6, but this object is IPv4',
    );
  });

  it("passes a CIDR typo through with Spiderpool's suggestion", () => {
    expect(() => parseAddressSpec({ subnet: "10.244.0.1/16" })).to.throw(
      'invalid spec.subnet "10.244.0.1/16": host bits are set; did you mean "10.244.0.0/16"?',
    );
  });
});
