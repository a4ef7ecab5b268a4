import { expect } from "chai";
import { API_VERSION, type SpiderSubnet } from "../../../src/api/types.js";
import { AddressError } from "../../../src/ip/address.js";
import { parseIPList } from "../../../src/ip/ip-list.js";
import { LedgerFormatError } from "../../../src/reservation/ledger.js";
import {
  ANNOTATION_PART,
  ANNOTATION_SUBNET,
  ANNOTATION_SUBNET_UID,
  LEDGER_LABEL,
  PART_DATA_KEY,
  type PartObject,
  decodeDirectory,
  encodeDirectory,
  partBody,
  partObjectName,
  partObjectOf,
} from "../../../src/reservation/ledger-objects.js";
import { DIRECTORY, LedgerPart } from "../../../src/reservation/ledger-part.js";
import { ledgerOfObjects } from "../../../src/reservation/ledger-view.js";
import { SubnetLedger } from "../../../src/reservation/subnet-ledger.js";

/** Kubernetes' DNS-1123 subdomain (IsDNS1123Subdomain): what a ConfigMap's name must be. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const part = (family: 4 | 6, pools: Record<string, string[]>, rev?: number) =>
  new LedgerPart(family, new Map(Object.entries(pools).map(([n, ips]) => [n, { addresses: parseIPList(family, ips, "ips"), ...(rev ? { rev } : {}) }])));

describe("reservation/ledger-objects: the ConfigMaps a subnet's ledger is stored in", () => {
  describe("partObjectName", () => {
    it("is a DNS subdomain of at most 253 characters, for subnet names up to 253 characters with dots and hyphens anywhere", () => {
      const names: string[] = ["s", "a.b", "nginx-subnet-v4"];
      for (let at = 170; at <= 190; at++) {
        names.push(`${"a".repeat(at)}.${"b".repeat(252 - at)}`, `${"a".repeat(at)}-${"c".repeat(252 - at)}`, `${"a".repeat(at)}--${"d".repeat(251 - at)}`);
      }
      names.push(Array.from({ length: 70 }, (_, i) => `x${i % 10}y`).join(".").slice(0, 253)); // a dot at 179: cut just after it
      for (const name of names) {
        expect(name.length).to.be.at.most(253);
        for (const key of [DIRECTORY, "a4000", "fd00000000000000000000000000ff"]) {
          const object = partObjectName(name, key);
          expect(object.length, object).to.be.at.most(253);
          expect(object, `${name} / ${key}`).to.match(DNS_SUBDOMAIN);
          expect(object.endsWith(`-${key}`)).to.equal(true);
        }
      }
      expect(partObjectName("nginx-subnet-v4", DIRECTORY)).to.match(/^pinpool-ledger-nginx-subnet-v4-[0-9a-f]{8}-dir$/);
    });

    it("differs for subnets sharing a 180-character prefix, and for parts of one subnet; is stable", () => {
      const prefix = `${"p".repeat(120)}.${"q".repeat(59)}`;
      expect(prefix.length).to.equal(180);
      const a = partObjectName(`${prefix}.a`, DIRECTORY);
      expect(a).to.not.equal(partObjectName(`${prefix}.b`, DIRECTORY));
      expect(a).to.not.equal(partObjectName(prefix, DIRECTORY));
      expect(a).to.equal(partObjectName(`${prefix}.a`, DIRECTORY));
      expect(partObjectName("s", "a4000")).to.not.equal(partObjectName("s", "a4001"));
    });
  });

  describe("the directory document", () => {
    it("encodes and decodes the blocks and the claims outside them", () => {
      const d = { blocks: [0xfd00000000000000000000000512n, 0xfd00000000000000000000000513n], pools: part(6, { wide: ["fd00::-fd00::f:ffff"] }, 2) };
      const text = encodeDirectory(d);
      expect(JSON.parse(text)).to.deep.equal({ blocks: ["fd00000000000000000000000512", "fd00000000000000000000000513"], pools: { wide: { ips: ["fd00::-fd00::f:ffff"], rev: 2 } } });
      const back = decodeDirectory(6, text, "ConfigMap d");
      expect(back.blocks).to.deep.equal(d.blocks);
      expect(back.pools.encode()).to.deep.equal(d.pools.encode());
      const empty = decodeDirectory(4, "", "ConfigMap d");
      expect([empty.blocks, empty.pools.entries.size]).to.deep.equal([[], 0]);
    });

    it("rejects a malformed directory, naming the field and the value", () => {
      const bad = (text: string, field: string, value: string, type: new (...args: never[]) => Error = LedgerFormatError) => {
        expect(() => decodeDirectory(4, text, "ConfigMap d"), text)
          .to.throw(type)
          .with.property("message")
          .that.includes(field)
          .and.includes(value);
      };
      bad('{"blocks":["a4000","xyz"]}', "ConfigMap d.blocks", "xyz");
      bad('{"blocks":["A4000"]}', "ConfigMap d.blocks", "A4000");
      bad('{"blocks":"a4000"}', "ConfigMap d.blocks", '"a4000"');
      bad('{"blocks":[42]}', "ConfigMap d.blocks", "42");
      bad('{"pools":["10.0.0.1"]}', "ConfigMap d.pools", "10.0.0.1");
      bad('{"pools":"many"}', "ConfigMap d.pools", "many");
      bad('{"pools":{"p":{"ips":["10.0.0.300"]}}}', 'ConfigMap d.pools["p"].ips[0]', "10.0.0.300", AddressError);
      bad("{not json", "ConfigMap d", "not valid JSON");
    });
  });

  describe("partObjectOf and partBody", () => {
    const p = { subnet: "s.example", uid: "uid-1", key: "a4000", text: '{"p":{"ips":["10.64.0.1"]}}' };

    it("reads back the part a body writes", () => {
      const body = partBody("pinpool-system", { ...p, resourceVersion: "42" });
      expect(body.metadata).to.deep.include({ name: partObjectName("s.example", "a4000"), namespace: "pinpool-system", resourceVersion: "42" });
      expect(body.metadata?.labels?.[LEDGER_LABEL]).to.equal("subnet");
      expect(partObjectOf(body)).to.deep.equal({ ...p, resourceVersion: "42" });
      const create = partBody("pinpool-system", p);
      expect(create.metadata).to.not.have.property("resourceVersion");
      expect(partObjectOf({ ...create, metadata: { ...create.metadata, resourceVersion: "1" }, data: {} })).to.deep.equal({ ...p, text: "", resourceVersion: "1" });
      expect(partObjectOf(partBody("ns", { ...p, key: DIRECTORY, resourceVersion: "7" }))?.key).to.equal(DIRECTORY);
    });

    it("ignores a ConfigMap whose name does not match its annotations, or that is not a well-formed part", () => {
      const body = partBody("ns", { ...p, resourceVersion: "42" });
      const meta = body.metadata ?? {};
      const annotated = (a: Record<string, string>, name = meta.name) => ({ ...body, metadata: { ...meta, name, annotations: { ...meta.annotations, ...a } } });
      expect(partObjectOf({ ...body, metadata: { ...meta, name: partObjectName("other", "a4000") } })).to.equal(undefined);
      expect(partObjectOf(annotated({ [ANNOTATION_SUBNET]: "other" }))).to.equal(undefined);
      expect(partObjectOf(annotated({ [ANNOTATION_PART]: "a4001" }))).to.equal(undefined);
      expect(partObjectOf(annotated({ [ANNOTATION_PART]: "xyz" }, partObjectName("s.example", "xyz")))).to.equal(undefined);
      expect(partObjectOf(annotated({ [ANNOTATION_PART]: "A4000" }, partObjectName("s.example", "A4000")))).to.equal(undefined);
      expect(partObjectOf(annotated({ [ANNOTATION_SUBNET_UID]: "" }))).to.equal(undefined);
      expect(partObjectOf({ ...body, metadata: { ...meta, resourceVersion: undefined } })).to.equal(undefined);
      expect(partObjectOf({ data: { [PART_DATA_KEY]: "{}" } })).to.equal(undefined);
    });
  });

  describe("ledgerOfObjects", () => {
    const subnet = (uid: string, controlledIPPools?: string): SpiderSubnet => ({
      apiVersion: API_VERSION,
      kind: "SpiderSubnet",
      metadata: { name: "s.example", uid },
      spec: { subnet: "10.64.0.0/16" },
      ...(controlledIPPools ? { status: { controlledIPPools } } : {}),
    });
    const object = (key: string, text: string, uid = "uid-1", name = "s.example"): PartObject => ({ subnet: name, uid, key, resourceVersion: "5", text });
    const directory = (pools: Record<string, string[]>) => encodeDirectory({ blocks: [0xa4000n, 0xa4001n], pools: part(4, pools) });
    const block = (pools: Record<string, string[]>) => JSON.stringify(part(4, pools).encode());

    it("reads the directory and each registered block's object; a registered block without one is held closed", () => {
      const objects = [
        object(DIRECTORY, directory({ wide: ["10.64.2.0-10.64.63.255"] })),
        object("a4001", block({ r: ["10.64.1.1"] })),
        object("a4005", block({ stray: ["10.64.5.5"] })), // not registered
        object("a4000", block({ other: ["10.64.0.2"] }), "uid-1", "another-subnet"),
      ];
      const ledger = ledgerOfObjects(subnet("uid-1", '{"legacy":{"ips":["10.64.9.9"]}}'), 4, objects);
      expect(ledger.encode()).to.equal(
        SubnetLedger.of(4, [
          ["r", { addresses: parseIPList(4, ["10.64.1.1"], "ips") }],
          ["wide", { addresses: parseIPList(4, ["10.64.2.0-10.64.63.255"], "ips") }],
        ]).encode(),
      );
      expect(ledger.blocks).to.deep.equal([0xa4000n, 0xa4001n]);
      expect([...ledger.missing]).to.deep.equal(["a4000"]);
      expect(ledger.touched.size).to.equal(0);
      const space = parseIPList(4, ["10.64.0.0-10.64.255.255"], "ips");
      expect(ledger.lowestFree(space, parseIPList(4, [], "ips"), 2).toString(), "the missing block is skipped").to.equal("10.64.1.0,10.64.1.2");
      expect(() => ledger.conflicts(parseIPList(4, ["10.64.0.9"], "ips"))).to.throw("10.64.0.0-10.64.0.255 is registered but missing");
    });

    it("ignores objects of another UID: the subnet's status (the legacy ledger) or an empty one results", () => {
      const old = [object(DIRECTORY, directory({ old: ["10.64.7.7"] })), object("a4000", block({ old: ["10.64.0.7"] }))].map((o) => ({ ...o, uid: "uid-0" }));
      const legacy = '{"b":{"ips":["10.64.0.5-10.64.0.6"],"application":"apps_v1_Deployment_default_b","rev":2},"a":{"ips":["10.64.1.1"]}}';
      const fromStatus = ledgerOfObjects(subnet("uid-1", legacy), 4, old);
      expect(fromStatus.encode()).to.equal(SubnetLedger.decode(4, legacy).encode());
      expect(fromStatus.pools.get("b")).to.deep.include({ rev: 2, application: "apps_v1_Deployment_default_b" });
      expect(ledgerOfObjects(subnet("uid-1"), 4, old).encode()).to.equal("{}");
      expect(ledgerOfObjects(subnet("uid-1"), 4, []).encode()).to.equal("{}");
      // This UID's directory, but a registered block's object left by the older subnet: not this ledger's claims.
      const mixed = ledgerOfObjects(subnet("uid-1", legacy), 4, [object(DIRECTORY, directory({})), ...old.slice(1)]);
      expect(mixed.encode()).to.equal("{}");
    });
  });
});
