import { expect } from "chai";
import fc from "fast-check";
import { maxAddress, parseAddress } from "../../../src/ip/address.js";
import { AddressTakenError, AllocationRecord } from "../../../src/ip/allocation-record.js";
import { type AddressUse, type AllocationsStatus, listsHolder, sandboxDigest } from "../../../src/ip/allocation-status.js";

const ip = (text: string): bigint => parseAddress(text).value;

describe("ip/AllocationRecord", () => {
  it("encodes addresses ascending, each holder as prefix index and suffix", () => {
    const r = new AllocationRecord(4);
    r.allocate(ip("10.244.100.91"), "default/nginx-644659db67-n7ttd");
    r.allocate(ip("10.244.100.90"), "default/nginx-644659db67-6lsmm");
    r.allocate(ip("10.244.100.93"), "default/web/0");
    expect(r.encode()).to.deep.equal({
      prefixes: ["default/nginx-644659db67-", "default/web/"],
      ips: ["10.244.100.90-10.244.100.91", "10.244.100.93"],
      holders: ["0:6lsmm", "0:n7ttd", "1:0"],
    });
  });

  it("round-trips through its encoding", () => {
    const r = new AllocationRecord(6);
    r.allocate(ip("fd00::5"), "ns/a-1");
    r.allocate(ip("fd00::1"), "ns/a-2");
    r.allocate(ip("fd00::9"), "other/b");
    const back = AllocationRecord.decode(6, r.encode());
    expect(back.encode()).to.deep.equal(r.encode());
    expect(back.holderOf(ip("fd00::5"))).to.equal("ns/a-1");
    expect(back.allocated().toStrings()).to.deep.equal(["fd00::1", "fd00::5", "fd00::9"]);
  });

  it("never gives one address to two holders, and releases by holder", () => {
    const r = new AllocationRecord(4);
    r.allocate(ip("10.0.0.1"), "ns/p-1");
    r.allocate(ip("10.0.0.1"), "ns/p-1"); // idempotent for the same holder
    expect(() => r.allocate(ip("10.0.0.1"), "ns/p-2")).to.throw(AddressTakenError, /^10\.0\.0\.1 is already held by "ns\/p-1", cannot give it to "ns\/p-2"$/);
    r.allocate(ip("10.0.0.2"), "ns/p-1");
    expect(r.releaseHolder("ns/p-1")).to.deep.equal([ip("10.0.0.1"), ip("10.0.0.2")]);
    expect(r.count).to.equal(0);
    expect(r.releaseHolder("ns/p-1")).to.deep.equal([]);
  });

  it("records what each address serves: its sandbox's digest, and its interface unless eth0; none recorded, no sandboxes list", () => {
    const r = new AllocationRecord(4);
    const a = sandboxDigest("a1b2c3");
    r.allocate(ip("10.0.0.3"), "ns/p", { interface: "net1", sandbox: a });
    r.allocate(ip("10.0.0.1"), "ns/p", { interface: "eth0", sandbox: a });
    r.allocate(ip("10.0.0.2"), "ns/old");
    expect(r.encode()).to.deep.equal({ prefixes: ["ns/"], ips: ["10.0.0.1-10.0.0.3"], holders: ["0:p", "0:old", "0:p"], sandboxes: [a, "", `${a}@net1`] });
    const back = AllocationRecord.decode(4, r.encode());
    expect([ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3")].map((x) => back.useOf(x))).to.deep.equal([{ interface: "eth0", sandbox: a }, undefined, { interface: "net1", sandbox: a }]);
    expect(back.encode()).to.deep.equal(r.encode());
    expect(AllocationRecord.decode(4, { prefixes: ["ns/"], ips: ["10.0.0.1"], holders: ["0:p"], sandboxes: [""] }).encode()).to.deep.equal({ prefixes: ["ns/"], ips: ["10.0.0.1"], holders: ["0:p"] });
  });

  it("re-stamps an address its holder claims again for another sandbox, and still refuses it to another holder", () => {
    const r = new AllocationRecord(4);
    r.allocate(ip("10.0.0.1"), "ns/p", { interface: "eth0", sandbox: "AAAAAA" });
    r.allocate(ip("10.0.0.1"), "ns/p", { interface: "eth0", sandbox: "BBBBBB" });
    expect(r.useOf(ip("10.0.0.1"))).to.deep.equal({ interface: "eth0", sandbox: "BBBBBB" });
    expect(() => r.allocate(ip("10.0.0.1"), "ns/q", { interface: "eth0", sandbox: "CCCCCC" })).to.throw(AddressTakenError);
    expect(r.useOf(ip("10.0.0.1"))).to.deep.equal({ interface: "eth0", sandbox: "BBBBBB" });
  });

  it("releases only the addresses of a holder that `which` picks, keeping the others with what they serve", () => {
    const r = new AllocationRecord(4);
    const eth0: AddressUse = { interface: "eth0", sandbox: "AAAAAA" };
    r.allocate(ip("10.0.0.1"), "ns/p", eth0);
    r.allocate(ip("10.0.0.2"), "ns/p", { interface: "net1", sandbox: "AAAAAA" });
    r.allocate(ip("10.0.0.3"), "ns/p");
    expect(r.releaseHolder("ns/p", (use) => use?.interface === "net1")).to.deep.equal([ip("10.0.0.2")]);
    expect(r.addressesOf("ns/p")).to.deep.equal([ip("10.0.0.1"), ip("10.0.0.3")]);
    expect(r.encode()).to.deep.equal({ prefixes: ["ns/"], ips: ["10.0.0.1", "10.0.0.3"], holders: ["0:p", "0:p"], sandboxes: ["AAAAAA", ""] });
    expect(r.releaseHolder("ns/p", () => false)).to.deep.equal([]);
    expect(r.releaseHolder("ns/p")).to.deep.equal([ip("10.0.0.1"), ip("10.0.0.3")]);
    expect([r.count, [...r.holders()], r.encode()]).to.deep.equal([0, [], { prefixes: [], ips: [], holders: [] }]);
  });

  it("digests a container ID to 6 base64url characters, the same each time", () => {
    const id = "4f0b5a0c2d9e7f1a3b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a";
    expect(sandboxDigest(id)).to.match(/^[A-Za-z0-9_-]{6}$/);
    expect(sandboxDigest(id)).to.equal(sandboxDigest(id));
    expect(sandboxDigest(id)).to.not.equal(sandboxDigest(`${id.slice(0, -1)}b`));
  });

  it("rejects stored sandboxes it cannot read, naming the field, value and what is allowed", () => {
    const stored = { prefixes: ["ns/"], ips: ["10.0.0.1-10.0.0.2"], holders: ["0:a", "0:b"] };
    expect(() => AllocationRecord.decode(4, { ...stored, sandboxes: "AAAAAA" as unknown as string[] })).to.throw(
      'invalid status.allocations.sandboxes "AAAAAA": expected a list with one entry for each address in status.allocations.ips (2), or none',
    );
    expect(() => AllocationRecord.decode(4, { ...stored, sandboxes: ["AAAAAA"] })).to.throw('invalid status.allocations.sandboxes "a list of 1": expected a list with one entry for each address in status.allocations.ips (2), or none');
    for (const bad of [7, "AAAAA", "AAAAAAA", "AAAAAA@", "AAA AA"]) {
      expect(() => AllocationRecord.decode(4, { ...stored, sandboxes: ["", bad as string] }), String(bad)).to.throw(
        `invalid status.allocations.sandboxes[1] ${JSON.stringify(bad)}: expected "" (not recorded), "<6-character sandbox digest>" (eth0) or "<sandbox digest>@<interface>"`,
      );
    }
  });

  it("rejects a stored record whose addresses and holders do not pair up, naming the field", () => {
    expect(() => AllocationRecord.decode(4, { prefixes: ["ns/"], ips: ["10.0.0.1-10.0.0.3"], holders: ["0:a", "0:b"] })).to.throw(
      'invalid status.allocations.ips ["10.0.0.1-10.0.0.3"]: holds 3 addresses, but status.allocations.holders lists 2; allowed: exactly one holder per address, so exactly 2 addresses',
    );
    expect(() => AllocationRecord.decode(4, { prefixes: ["ns/"], ips: ["10.0.0.1"], holders: "0:a" as unknown as string[] })).to.throw(
      'invalid status.allocations.holders "0:a": expected a list with one holder for each address in status.allocations.ips',
    );
    expect(() => AllocationRecord.decode(4, { prefixes: ["ns/"], ips: ["10.0.0.x"], holders: ["0:a"] })).to.throw(
      'invalid status.allocations.ips[0] "10.0.0.x"',
    );
    expect(() => AllocationRecord.decode(4, { prefixes: ["ns/"], ips: ["10.0.0.1"], holders: ["1:a"] })).to.throw(
      'invalid status.allocations.holders[0] "1:a": expected "<index into status.allocations.prefixes (0-0)>:<key suffix>"',
    );
  });

  it("refuses a stored range far larger than its holders list without enumerating it", () => {
    // 2^64 addresses: enumerated, this never returns (it hung agents and the controller).
    expect(() =>
      AllocationRecord.decode(6, { prefixes: ["ns/web/"], ips: ["fd00::-fd00::ffff:ffff:ffff:ffff"], holders: ["0:0"] }, 'SpiderIPPool "p" status.allocations'),
    ).to.throw(
      'invalid SpiderIPPool "p" status.allocations.ips ["fd00::-fd00::ffff:ffff:ffff:ffff"]: holds 18446744073709551616 addresses, but SpiderIPPool "p" status.allocations.holders lists 1; allowed: exactly one holder per address, so exactly 1 addresses',
    );
    // The whole IPv6 space beside a few exact entries, and the whole IPv4 space with none.
    expect(() => AllocationRecord.decode(6, { prefixes: ["ns/"], ips: ["fd00::1", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], holders: ["0:a", "0:b"] })).to.throw(
      /holds 340282366920938463463374607431768211456 addresses, but status\.allocations\.holders lists 2;/,
    );
    expect(() => AllocationRecord.decode(4, { prefixes: [], ips: ["0.0.0.0-255.255.255.255"], holders: [] })).to.throw(
      /holds 4294967296 addresses, but status\.allocations\.holders lists 0;/,
    );
  });

  it("decodes a stored range that matches its holders, one address each", () => {
    const back = AllocationRecord.decode(6, { prefixes: ["ns/web/"], ips: ["fd00::ffff:ffff:ffff:fffe-fd00:0:0:1::1"], holders: ["0:0", "0:1", "0:2", "0:3"] });
    expect([...back.holders()]).to.deep.equal(["ns/web/0", "ns/web/1", "ns/web/2", "ns/web/3"]);
    expect(back.holderOf(ip("fd00:0:0:1::"))).to.equal("ns/web/2");
  });

  it("decode(encode(record)) is the record, for any holders and addresses (property)", () => {
    const family = fc.constantFrom(4 as const, 6 as const);
    // Keys as encode() splits them: "/" and "-" cut prefixes; any other character, a newline
    // included, stays in a suffix.
    const key = fc.string({ unit: fc.constantFrom("a", "z", "0", "9", "-", "/", ".", "\n", ":", "é"), minLength: 1, maxLength: 12 });
    const scenario = family.chain((f) =>
      fc.record({
        family: fc.constant(f),
        entries: fc.array(fc.tuple(fc.bigInt({ min: 0n, max: maxAddress(f) }), key), { maxLength: 40 }),
        // A dense block too, so adjacent addresses merge into stored ranges.
        block: fc.tuple(fc.bigInt({ min: 0n, max: maxAddress(f) - 16n }), fc.integer({ min: 0, max: 16 }), key),
      }),
    );
    fc.assert(
      fc.property(scenario, ({ family: f, entries, block: [base, length, blockKey] }) => {
        const r = new AllocationRecord(f);
        const held = new Map<bigint, string>();
        for (let i = 0; i < length; i++) held.set(base + BigInt(i), `${blockKey}${i % 3}`);
        for (const [address, k] of entries) if (!held.has(address)) held.set(address, k);
        // Every third address records no sandbox; the others alternate eth0 and an interface named like a key.
        const useOf = (address: bigint, k: string): AddressUse | undefined => (address % 3n === 0n ? undefined : { interface: address % 3n === 1n ? "eth0" : k, sandbox: sandboxDigest(k) });
        for (const [address, k] of held) r.allocate(address, k, useOf(address, k));
        const encoded = r.encode();
        const back = AllocationRecord.decode(f, JSON.parse(JSON.stringify(encoded)) as AllocationsStatus);
        expect(back.count).to.equal(held.size);
        for (const [address, k] of held) expect([back.holderOf(address), back.useOf(address)]).to.deep.equal([k, useOf(address, k)]);
        expect(back.encode()).to.deep.equal(encoded);
      }),
    );
  });

  it("keeps a fully allocated pool of 65,536 ReplicaSet pods, each address with its sandbox, well under the 1.5 MiB object limit", () => {
    const r = new AllocationRecord(4);
    const alphabet = "bcdfghjklmnpqrstvwxz2456789"; // the API server's generateName alphabet
    const base = ip("10.200.0.0");
    for (let i = 0; i < 65536; i++) {
      let suffix = "";
      for (let n = i * 7919 + 17, k = 0; k < 5; k++, n = Math.floor(n / alphabet.length)) suffix += alphabet[n % alphabet.length];
      // Four ReplicaSets (rollouts) share the pool.
      const key = `production/checkout-service-${["7d9f8b6c5d", "5c4b7f9d8", "6f5d4c8b9", "84b6c9d7f5"][i % 4]}-${suffix}`;
      r.allocate(base + BigInt(i), key, { interface: "eth0", sandbox: sandboxDigest(`${key}-sandbox`) });
    }
    const bytes = Buffer.byteLength(JSON.stringify(r.encode()));
    // 65,536 holders of "i:xxxxx" cost 10 bytes each in JSON, their sandboxes 9; the limit is 1.5 MiB.
    expect(bytes).to.be.below(1.25 * 1024 * 1024);
    expect(AllocationRecord.decode(4, r.encode()).count).to.equal(65536);
  });
});

describe("ip/listsHolder (a record's holders, without decoding it)", () => {
  const stored: AllocationsStatus = { prefixes: ["default/nginx-644659db67-", "default/web/"], ips: ["10.244.100.90-10.244.100.91", "10.244.100.93"], holders: ["0:6lsmm", "0:n7ttd", "1:0"] };

  it("finds exactly the keys decode() reads, never a key that only starts like one", () => {
    const decoded = [...AllocationRecord.decode(4, stored).holders()];
    for (const key of decoded) expect(listsHolder(stored, key), key).to.equal(true);
    for (const key of ["default/nginx-644659db67-6lsm", "default/nginx-644659db67-6lsmmx", "default/web/1", "default/web/01", "default/web", "other/web/0"]) expect(listsHolder(stored, key), key).to.equal(false);
  });

  it("reads any split a writer chose, as decode() does", () => {
    expect(listsHolder({ prefixes: ["", "ns/"], ips: ["10.0.0.1-10.0.0.2"], holders: ["0:ns/a-1", "1:b"] }, "ns/a-1")).to.equal(true);
    expect(listsHolder({ prefixes: ["", "ns/"], ips: ["10.0.0.1-10.0.0.2"], holders: ["0:ns/a-1", "1:b"] }, "ns/b")).to.equal(true);
  });

  it("lists nobody in a record it cannot read, and never throws", () => {
    expect(listsHolder(undefined, "ns/a")).to.equal(false);
    for (const bad of [{ prefixes: "x", holders: ["0:a"] }, { prefixes: ["ns/"], holders: "0:a" }, { prefixes: ["ns/"], holders: [7, null, "x", "5:a"] }, { prefixes: [null], holders: ["0:a"] }]) {
      expect(listsHolder(bad as unknown as AllocationsStatus, "ns/a"), JSON.stringify(bad)).to.equal(false);
    }
    expect(listsHolder({ prefixes: [], ips: [], holders: ["0:ns/a"] }, "undefinedns/a")).to.equal(false); // a missing prefix is no "undefined"
  });

  // Each entry was coerced by decode() (String(["0:a"]) is "0:a"; 7 + "a" is "7a"; "ns/"[0] is "n") and skipped by listsHolder.
  const MALFORMED: Array<{ stored: object; key: string; error: string }> = [
    { stored: { prefixes: ["ns/"], holders: [["0:a"]] }, key: "ns/a", error: 'invalid status.allocations.holders[0] ["0:a"]: expected "<index into status.allocations.prefixes (0-0)>:<key suffix>"' },
    { stored: { prefixes: [7], holders: ["0:a"] }, key: "7a", error: 'invalid status.allocations.holders[0] "0:a": expected "<index into status.allocations.prefixes (0-0)>:<key suffix>" naming a string prefix; status.allocations.prefixes[0] is 7, not a string' },
    { stored: { prefixes: "ns/", holders: ["0:a"] }, key: "na", error: 'invalid status.allocations.holders[0] "0:a": expected "<index into status.allocations.prefixes>:<key suffix>" naming a string prefix; status.allocations.prefixes is "ns/", not a list' },
    { stored: { prefixes: [""], holders: ["0:"] }, key: "", error: 'invalid status.allocations.holders[0] "0:": names the empty key; allowed: a non-empty holder key' },
    { stored: { prefixes: ["ns/"], holders: [null] }, key: "ns/", error: 'invalid status.allocations.holders[0] null: expected "<index into status.allocations.prefixes (0-0)>:<key suffix>"' },
  ];
  for (const { stored, key, error } of MALFORMED) {
    it(`agrees with decode() on ${JSON.stringify(stored)}: not a holder of ${JSON.stringify(key)}; decode() names the field, value and what is allowed`, () => {
      const withIps = { ips: ["10.0.0.1"], ...stored } as unknown as AllocationsStatus;
      expect(() => AllocationRecord.decode(4, withIps)).to.throw(error);
      const reported: string[] = [];
      expect(listsHolder(withIps, key, (e) => reported.push(e.message))).to.equal(false);
      expect(reported).to.deep.equal([error]);
    });
  }

  it("still finds a holder beside a malformed entry, reporting the entry", () => {
    const reported: string[] = [];
    expect(listsHolder({ prefixes: ["ns/"], ips: [], holders: [7 as unknown as string, "0:a"] }, "ns/a", (e) => reported.push(e.message))).to.equal(true);
    expect(reported).to.deep.equal(['invalid status.allocations.holders[0] 7: expected "<index into status.allocations.prefixes (0-0)>:<key suffix>"']);
  });
});
