import { expect } from "chai";
import { ApiException, type CustomObjectsApi } from "@kubernetes/client-node";
import { EndpointWriter } from "../../../src/agent/endpoints.js";
import type { SpiderEndpoint } from "../../../src/api/types.js";

/** An API server holding endpoints by name; `failures` 503s come first. */
function fakeServer(failures: number): { api: CustomObjectsApi; stored: Map<string, SpiderEndpoint>; calls: string[] } {
  const stored = new Map<string, SpiderEndpoint>();
  const calls: string[] = [];
  let left = failures;
  const fail = (): boolean => left-- > 0;
  const api = {
    getNamespacedCustomObject: ({ name }: { name: string }) => {
      calls.push(`get ${name}`);
      if (fail()) return Promise.reject(new ApiException(503, "Unavailable", "{}", {}));
      const e = stored.get(name);
      return e ? Promise.resolve(structuredClone(e)) : Promise.reject(new ApiException(404, "Not Found", "{}", {}));
    },
    createNamespacedCustomObject: ({ body }: { body: SpiderEndpoint }) => {
      calls.push(`create ${body.metadata.name}`);
      stored.set(body.metadata.name as string, body);
      return Promise.resolve(body);
    },
    replaceNamespacedCustomObject: ({ name, body }: { name: string; body: SpiderEndpoint }) => {
      calls.push(`replace ${name}`);
      stored.set(name, body);
      return Promise.resolve(body);
    },
    deleteNamespacedCustomObject: ({ name }: { name: string }) => {
      calls.push(`delete ${name}`);
      stored.delete(name);
      return Promise.resolve({});
    },
  };
  return { api: api as unknown as CustomObjectsApi, stored, calls };
}

const record = { namespace: "ns", name: "a", uid: "u", node: "n", containerID: "c1", ip: { interface: "eth0", ipv4: "10.0.0.2/24", ipv4Pool: "p" } };

describe("agent/EndpointWriter (endpoints off the critical path)", () => {
  it("returns at once and writes in the background, retrying a failed write", async () => {
    const server = fakeServer(2);
    const w = new EndpointWriter(server.api, { baseDelayMs: 1 });
    w.record(record);
    expect(server.stored.size, "nothing written before the caller goes on").to.equal(0);
    await w.settled("ns", "a");
    expect(server.stored.get("a")?.status?.current).to.deep.equal({ uid: "u", node: "n", containerID: "c1", ips: [record.ip] });
  });

  it("keeps one pod's work in order: a delete queued after a write runs after it", async () => {
    const server = fakeServer(0);
    const w = new EndpointWriter(server.api, { baseDelayMs: 1 });
    w.record(record);
    w.forget("ns", "a", "c1", record.ip.interface);
    await w.drain();
    expect(server.calls).to.deep.equal(["get a", "create a", "get a", "delete a"]);
    expect(server.stored.size).to.equal(0);
  });

  it("a DEL for one interface keeps the others' entries; the last one deletes the endpoint", async () => {
    const server = fakeServer(0);
    const w = new EndpointWriter(server.api, { baseDelayMs: 1 });
    const net1 = { ...record, ip: { interface: "net1", ipv4: "10.1.0.2/24", ipv4Pool: "q" } };
    w.record(record);
    w.record(net1);
    w.forget("ns", "a", "c1", "net1");
    await w.drain();
    expect(server.stored.get("a")?.status?.current?.ips).to.deep.equal([record.ip]);
    w.forget("ns", "a", "c1", "eth0");
    await w.drain();
    expect(server.stored.size).to.equal(0);
  });

  it("gives up after its attempts and logs, leaving the endpoint to the controller's sweep", async () => {
    const server = fakeServer(100);
    const logged: object[] = [];
    const w = new EndpointWriter(server.api, { attempts: 3, baseDelayMs: 1, log: { error: (o) => logged.push(o) } });
    w.record(record);
    await w.drain();
    expect(server.calls).to.deep.equal(["get a", "get a", "get a"]);
    expect(logged).to.have.length(1);
    expect(logged[0]).to.deep.include({ endpoint: "ns/a", what: "write" });
  });
});
