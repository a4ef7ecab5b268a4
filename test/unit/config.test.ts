import { expect } from "chai";
import { ConfigError, loadControllerConfig } from "../../src/config/controller.js";

describe("controller configuration", () => {
  it("has mutual TLS on by default: the client CA beside the serving certificate, the name webhook-certs/generate.sh gives", () => {
    expect(loadControllerConfig({})).to.deep.include({ clientCAFile: "/etc/pinpool/tls/client-ca.crt", clientNames: ["pinpool-webhook-client"] });
    expect(loadControllerConfig({ PINPOOL_CERT_DIR: "/certs" })).to.deep.include({ clientCAFile: "/certs/client-ca.crt" });
    const named = loadControllerConfig({ PINPOOL_CLIENT_CA_FILE: "/ca.crt", PINPOOL_CLIENT_NAMES: " kube-apiserver-webhook , other " });
    expect(named).to.deep.include({ clientCAFile: "/ca.crt", clientNames: ["kube-apiserver-webhook", "other"] });
  });

  it("turns mutual TLS off only when told to, and refuses a CA file it would ignore", () => {
    expect(loadControllerConfig({ PINPOOL_CLIENT_AUTH: "none" })).to.not.have.property("clientCAFile");
    expect(() => loadControllerConfig({ PINPOOL_CLIENT_AUTH: "none", PINPOOL_CLIENT_CA_FILE: "/ca.crt" })).to.throw(
      ConfigError,
      'PINPOOL_CLIENT_CA_FILE="/ca.crt" is set but PINPOOL_CLIENT_AUTH=none turns mutual TLS off; drop one of them',
    );
    expect(() => loadControllerConfig({ PINPOOL_CLIENT_AUTH: "off" })).to.throw(ConfigError, 'PINPOOL_CLIENT_AUTH="off": expected "mtls"');
  });

  it("bounds the claims' deadline below by the webhooks' timeout, and lists the API servers' addresses", () => {
    expect(loadControllerConfig({}).pendingClaimSeconds).to.equal(15);
    expect(() => loadControllerConfig({ PINPOOL_PENDING_CLAIM_SECONDS: "5" })).to.throw(ConfigError, 'PINPOOL_PENDING_CLAIM_SECONDS="5": expected a number of seconds from 6 to 86400');
    expect(loadControllerConfig({ PINPOOL_WEBHOOK_API_SERVERS: " 192.0.2.2, 10.0.0.0/8 ," }).apiServers).to.deep.equal(["192.0.2.2", "10.0.0.0/8"]);
  });
});
