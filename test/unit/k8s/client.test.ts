import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import https from "node:https";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { KeepAliveKubeConfig, sameTls } from "../../../src/k8s/client.js";

/** A throwaway self-signed certificate for 127.0.0.1. */
function selfSigned(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pinpool-tls-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", path.join(dir, "k"), "-out", path.join(dir, "c")], { stdio: "ignore" });
  return { key: readFileSync(path.join(dir, "k")), cert: readFileSync(path.join(dir, "c")) };
}

describe("k8s/client: one keep-alive connection for the API clients", () => {
  let server: https.Server;
  let handshakes = 0;
  let url = "";
  let ca: Buffer;

  before(async () => {
    const tls = selfSigned();
    ca = tls.cert;
    server = https.createServer(tls, (_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ metadata: { name: "t" } })));
    server.on("secureConnection", () => handshakes++);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  const config = (kc: k8s.KubeConfig): k8s.KubeConfig => {
    kc.loadFromOptions({ clusters: [{ name: "c", server: url, caData: ca.toString("base64") }], users: [{ name: "u" }], contexts: [{ name: "c", cluster: "c", user: "u" }], currentContext: "c" });
    return kc;
  };

  it("client-node's own KubeConfig makes a TLS handshake per request (why this exists)", async () => {
    const before = handshakes;
    const core = config(new k8s.KubeConfig()).makeApiClient(k8s.CoreV1Api);
    for (let i = 0; i < 3; i++) await core.readNamespace({ name: "t" });
    expect(handshakes - before).to.equal(3);
  });

  it("KeepAliveKubeConfig reuses one connection across requests and API clients", async () => {
    const before = handshakes;
    const kc = config(new KeepAliveKubeConfig());
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const other = kc.makeApiClient(k8s.CoreV1Api);
    for (let i = 0; i < 3; i++) await core.readNamespace({ name: "t" });
    await other.readNamespace({ name: "t" });
    expect(handshakes - before).to.equal(1);
  });

  it("sameTls compares the TLS material by content, so a rotated certificate makes a new agent", () => {
    expect(sameTls({ ca: Buffer.from("a"), rejectUnauthorized: true }, { ca: Buffer.from("a"), rejectUnauthorized: true })).to.be.true;
    expect(sameTls({ ca: Buffer.from("a") }, { ca: "a" })).to.be.true;
    expect(sameTls({ cert: Buffer.from("a") }, { cert: Buffer.from("b") })).to.be.false;
    expect(sameTls({ ca: [Buffer.from("a")] }, { ca: [Buffer.from("a"), Buffer.from("b")] })).to.be.false;
    expect(sameTls({ servername: "x" }, {})).to.be.false;
  });
});
