import { expect } from "chai";
import { ConfigError, loadControllerConfig } from "../../src/config/controller.js";

describe("controller configuration", () => {
  it("turns on mutual TLS only with the API server's certificate names given", () => {
    expect(() => loadControllerConfig({ PINPOOL_CLIENT_CA_FILE: "/etc/pinpool/client-ca.crt" })).to.throw(
      ConfigError,
      'PINPOOL_CLIENT_CA_FILE="/etc/pinpool/client-ca.crt" needs PINPOOL_CLIENT_NAMES: the common name(s) of the API server\'s webhook client certificate, comma-separated',
    );
    const on = loadControllerConfig({ PINPOOL_CLIENT_CA_FILE: "/ca.crt", PINPOOL_CLIENT_NAMES: " kube-apiserver-webhook , other " });
    expect(on).to.deep.include({ clientCAFile: "/ca.crt", clientNames: ["kube-apiserver-webhook", "other"] });
    expect(loadControllerConfig({})).to.not.have.property("clientCAFile");
  });
});
