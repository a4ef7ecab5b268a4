import { expect } from "chai";
import { formatAddress, parseAddress, parseAddressOf } from "../../../src/ip/address.js";
import { formatCidr, parseCidr, cidrBounds } from "../../../src/ip/cidr.js";
import { parseIPEntry, parseIPList } from "../../../src/ip/ip-list.js";

describe("ip/address parsing and formatting", () => {
  const valid: Array<[string, 4 | 6, bigint]> = [
    ["0.0.0.0", 4, 0n],
    ["255.255.255.255", 4, 0xffffffffn],
    ["10.244.100.90", 4, 0x0af4645an],
    ["::", 6, 0n],
    ["::1", 6, 1n],
    ["1::", 6, 1n << 112n],
    ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6, (1n << 128n) - 1n],
    ["2001:DB8:0000:0000:0000:0000:0000:0001", 6, 0x20010db8000000000000000000000001n],
    ["2001:db8::0001", 6, 0x20010db8000000000000000000000001n],
    ["::ffff:1.2.3.4", 6, 0xffff01020304n],
    ["64:ff9b::192.0.2.33", 6, 0x0064ff9b0000000000000000c0000221n],
    ["0:0:0:0:0:ffff:1.2.3.4", 6, 0xffff01020304n],
  ];
  for (const [text, family, value] of valid) {
    it(`parses ${text}`, () => {
      expect(parseAddress(text)).to.deep.equal({ family, value });
    });
  }

  const invalid: Array<[string, string]> = [
    ["", 'invalid IP address "": expected an IPv4 or IPv6 address'],
    [" 10.0.0.1", 'invalid IP address " 10.0.0.1": white space is not allowed'],
    ["10.0.0.1\n", 'invalid IP address "10.0.0.1\\n": white space is not allowed'],
    ["010.0.0.1", 'invalid IP address "010.0.0.1": octet "010" has a leading zero, which some tools read as octal; write "10.0.0.1"'],
    ["10.0.0.256", 'invalid IP address "10.0.0.256": octet 256 is out of range 0-255'],
    ["10.0.0", 'invalid IP address "10.0.0": expected IPv4 dotted decimal a.b.c.d or IPv6'],
    ["fe80::1%eth0", 'invalid IP address "fe80::1%eth0": zone ids (%…) are not allowed in pool addresses'],
    ["1::2::3", 'invalid IP address "1::2::3": "::" may appear only once'],
    ["1:2:3:4:5:6:7", 'invalid IP address "1:2:3:4:5:6:7": an IPv6 address has 8 groups, found 7'],
    ["1:2:3:4::5:6:7:8", 'invalid IP address "1:2:3:4::5:6:7:8": "::" must stand for at least one zero group'],
    ["12345::", 'invalid IP address "12345::": group "12345" is not 1-4 hexadecimal digits'],
    ["::g", 'invalid IP address "::g": group "g" is not 1-4 hexadecimal digits'],
  ];
  for (const [text, message] of invalid) {
    it(`rejects ${JSON.stringify(text)} naming the input`, () => {
      expect(() => parseAddress(text)).to.throw(message);
    });
  }

  it("names the field and both families when the family is wrong", () => {
    expect(() => parseAddressOf(4, "fd00::1", "spec.gateway")).to.throw(
      'invalid spec.gateway "fd00::1": it is IPv6, but this object is IPv4',
    );
  });

  const canonical: Array<[string, string]> = [
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal runs
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
    ["0:0:0:0:0:0:0:0", "::"],
    ["FFFF:0:0:0:0:0:0:0", "ffff::"],
    ["0:0:0:0:0:ffff:102:304", "::ffff:1.2.3.4"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longer run wins
  ];
  for (const [text, expected] of canonical) {
    it(`formats ${text} as ${expected} (RFC 5952)`, () => {
      const a = parseAddress(text);
      expect(formatAddress(a.family, a.value)).to.equal(expected);
    });
  }
});

describe("ip/cidr", () => {
  it("parses a canonical CIDR and gives its bounds", () => {
    const c = parseCidr("10.244.0.0/16");
    expect(formatCidr(c)).to.equal("10.244.0.0/16");
    expect(cidrBounds(c)).to.deep.equal({ start: 0x0af40000n, end: 0x0af4ffffn });
    expect(cidrBounds(parseCidr("0.0.0.0/0"))).to.deep.equal({ start: 0n, end: 0xffffffffn });
    expect(cidrBounds(parseCidr("::/0")).end).to.equal((1n << 128n) - 1n);
    expect(cidrBounds(parseCidr("fd00::1/128"))).to.deep.equal({ start: 0xfd000000000000000000000000000001n, end: 0xfd000000000000000000000000000001n });
  });

  it("rejects host bits with a suggestion, as Spiderpool does", () => {
    expect(() => parseCidr("10.244.0.1/16", "spec.subnet")).to.throw(
      'invalid spec.subnet "10.244.0.1/16": host bits are set; did you mean "10.244.0.0/16"?',
    );
    expect(() => parseCidr("fd00::1/64", "spec.subnet")).to.throw('did you mean "fd00::/64"?');
  });

  const bad: Array<[string, string]> = [
    ["10.244.0.0", 'invalid CIDR "10.244.0.0": expected address/prefix, e.g. 10.244.0.0/16 or fd00::/64'],
    ["10.244.0.0/33", 'invalid CIDR "10.244.0.0/33": prefix length must be a whole number 0-32'],
    ["fd00::/129", 'invalid CIDR "fd00::/129": prefix length must be a whole number 0-128'],
    ["10.0.0.0/016", 'invalid CIDR "10.0.0.0/016": prefix length must be a whole number 0-32'],
    ["10.0.0.0/", 'invalid CIDR "10.0.0.0/": prefix length must be a whole number 0-32'],
    ["10.0.0.0/ 8", 'invalid CIDR "10.0.0.0/ 8": prefix length must be a whole number 0-32'],
    ["10.0.0.o/8", 'invalid CIDR "10.0.0.o/8": expected IPv4 dotted decimal a.b.c.d or IPv6'],
  ];
  for (const [text, message] of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      expect(() => parseCidr(text)).to.throw(message);
    });
  }
});

describe("ip/ip-list entries", () => {
  it("parses single addresses and ranges into a merged set", () => {
    const set = parseIPList(4, ["10.0.0.5", "10.0.0.1-10.0.0.4", "10.0.0.9"], "spec.ips");
    expect(set.toStrings()).to.deep.equal(["10.0.0.1-10.0.0.5", "10.0.0.9"]);
    expect(set.size).to.equal(6n);
  });

  it("names the entry index, the value and what is allowed", () => {
    expect(() => parseIPEntry(4, "10.0.0.9-10.0.0.1", "spec.ips[0]")).to.throw(
      'invalid spec.ips[0] "10.0.0.9-10.0.0.1": the range is reversed; write "10.0.0.1-10.0.0.9"',
    );
    expect(() => parseIPList(4, ["10.0.0.1", "fd00::1"], "spec.ips")).to.throw(
      'invalid spec.ips[1] "fd00::1": fd00::1 is IPv6, but this object is IPv4 (spec.ipVersion 4)',
    );
    expect(() => parseIPEntry(4, "10.0.0.1-10.0.0.2-10.0.0.3", "spec.excludeIPs[3]")).to.throw(
      'invalid spec.excludeIPs[3] "10.0.0.1-10.0.0.2-10.0.0.3": more than one "-"; expected an address "a.b.c.d" or a range "a.b.c.d-e.f.g.h"',
    );
    expect(() => parseIPEntry(4, "10.0.0.1-10.0.0.300", "spec.ips[0]")).to.throw(
      'invalid spec.ips[0] "10.0.0.1-10.0.0.300": octet 300 is out of range 0-255',
    );
    expect(() => parseIPList(4, "10.0.0.1" as unknown as string[], "spec.ips")).to.throw(
      'invalid spec.ips "10.0.0.1": expected a list; each entry expected an address',
    );
  });

  it("accepts IPv6 ranges and formats them canonically", () => {
    const set = parseIPList(6, ["fd00:0000::0010-fd00::00ff"], "spec.ips");
    expect(set.toStrings()).to.deep.equal(["fd00::10-fd00::ff"]);
  });
});
