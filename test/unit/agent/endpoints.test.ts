import { expect } from "chai";
import { ApiException, type CustomObjectsApi } from "@kubernetes/client-node";
import { EndpointWriter } from "../../../src/agent/endpoints.js";
import type { SpiderEndpoint } from "../../../src/api/types.js";

const status = (code: number): ApiException<string> => new ApiException(code, String(code), "{}", {});

/**
 * An API server holding endpoints by name, with resourceVersions and their preconditions
 * (a stale one is a 409, as the real one answers); `failures` 503s come first.
 */
function fakeServer(failures: number): { api: CustomObjectsApi; stored: Map<string, SpiderEndpoint>; calls: string[]; failNext(n: number): void } {
  const stored = new Map<string, SpiderEndpoint>();
  const calls: string[] = [];
  let left = failures;
  let rv = 0;
  const fail = (): boolean => left-- > 0;
  const put = (body: SpiderEndpoint): Promise<SpiderEndpoint> => {
    const saved = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(++rv) } };
    stored.set(body.metadata.name as string, saved);
    return Promise.resolve(structuredClone(saved));
  };
  const api = {
    getNamespacedCustomObject: ({ name }: { name: string }) => {
      calls.push(`get ${name}`);
      if (fail()) return Promise.reject(status(503));
      const e = stored.get(name);
      return e ? Promise.resolve(structuredClone(e)) : Promise.reject(status(404));
    },
    createNamespacedCustomObject: ({ body }: { body: SpiderEndpoint }) => {
      calls.push(`create ${body.metadata.name}`);
      if (fail()) return Promise.reject(status(503));
      if (stored.has(body.metadata.name as string)) return Promise.reject(status(409));
      return put(body);
    },
    replaceNamespacedCustomObject: ({ name, body }: { name: string; body: SpiderEndpoint }) => {
      calls.push(`replace ${name}`);
      if (stored.get(name)?.metadata.resourceVersion !== body.metadata.resourceVersion) return Promise.reject(status(409));
      return put(body);
    },
    deleteNamespacedCustomObject: ({ name, body }: { name: string; body?: { preconditions?: { resourceVersion?: string } } }) => {
      calls.push(`delete ${name}`);
      const e = stored.get(name);
      if (!e) return Promise.reject(status(404));
      const want = body?.preconditions?.resourceVersion;
      if (want && want !== e.metadata.resourceVersion) return Promise.reject(status(409));
      stored.delete(name);
      return Promise.resolve({});
    },
  };
  return { api: api as unknown as CustomObjectsApi, stored, calls, failNext: (n) => (left = n) };
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

  it("creates without reading first, and reads only when the endpoint exists (a new sandbox replaces it)", async () => {
    const server = fakeServer(0);
    const w = new EndpointWriter(server.api, { baseDelayMs: 1 });
    w.record(record);
    await w.drain();
    expect(server.calls).to.deep.equal(["create a"]);
    w.record({ ...record, containerID: "c2" });
    await w.drain();
    expect(server.calls.slice(1)).to.deep.equal(["create a", "get a", "replace a"]);
    expect(server.stored.get("a")?.status?.current?.containerID).to.equal("c2");
  });

  it("keeps one pod's work in order: a delete queued after a write runs after it", async () => {
    const server = fakeServer(0);
    const w = new EndpointWriter(server.api, { baseDelayMs: 1 });
    w.record(record);
    w.forget("ns", "a", "c1", record.ip.interface);
    await w.drain();
    expect(server.calls).to.deep.equal(["create a", "get a", "delete a"]);
    expect(server.stored.size).to.equal(0);
  });

  it("DEL looks up the copy it stored while the pod has the same UID, and reads otherwise", async () => {
    const server = fakeServer(0);
    const w = new EndpointWriter(server.api, { baseDelayMs: 1 });
    w.record(record);
    await w.settled("ns", "a");
    const mine = await w.lookup("ns", "a", "u");
    expect(mine?.status?.current?.containerID).to.equal("c1");
    expect(server.calls).to.deep.equal(["create a"]);
    await w.lookup("ns", "a", "other-uid"); // a pod recreated under the name: ask the API server
    await w.lookup("ns", "a", undefined); // the pod is not in the node's cache: ask too
    expect(server.calls.slice(1)).to.deep.equal(["get a", "get a"]);
    w.forget("ns", "a", "c1", "eth0", mine);
    await w.drain();
    expect(server.calls.slice(3)).to.deep.equal(["delete a"]);
    expect(await w.lookup("ns", "a", "u")).to.equal(undefined);
  });

  it("a stale copy handed to forget costs a 409 and a read, never a wrong delete", async () => {
    const server = fakeServer(0);
    const w = new EndpointWriter(server.api, { baseDelayMs: 1 });
    w.record(record);
    await w.settled("ns", "a");
    const seen = await w.lookup("ns", "a", "u");
    // Another writer (a newer sandbox) changed it meanwhile.
    const changed = server.stored.get("a") as SpiderEndpoint;
    server.stored.set("a", { ...changed, metadata: { ...changed.metadata, resourceVersion: "99" }, status: { current: { ...changed.status?.current, containerID: "c2", ips: [record.ip] } } as SpiderEndpoint["status"] });
    w.forget("ns", "a", "c1", "eth0", seen);
    await w.drain();
    expect(server.calls.slice(1)).to.deep.equal(["delete a", "get a"]);
    expect(server.stored.get("a")?.status?.current?.containerID, "the newer sandbox's endpoint stays").to.equal("c2");
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

  it("gives up after its attempts and logs, leaving the endpoint to the controller's sweep; no stored copy stays", async () => {
    const server = fakeServer(0);
    const logged: object[] = [];
    const w = new EndpointWriter(server.api, { attempts: 3, baseDelayMs: 1, log: { error: (o) => logged.push(o) } });
    w.record(record);
    await w.drain();
    server.failNext(3);
    w.record({ ...record, containerID: "c2" });
    await w.drain();
    expect(server.calls.slice(1)).to.deep.equal(["create a", "create a", "create a"]);
    expect(logged).to.have.length(1);
    expect(logged[0]).to.deep.include({ endpoint: "ns/a", what: "write" });
    await w.lookup("ns", "a", "u");
    expect(server.calls.at(-1), "the copy of the failed sandbox's predecessor is not trusted").to.equal("get a");
  });
});
