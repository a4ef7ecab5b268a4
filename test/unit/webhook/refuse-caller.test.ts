import type { PeerCertificate } from "node:tls";
import { expect } from "chai";
import { refuseCaller } from "../../../src/webhook/server.js";

/** What a TLS socket tells about its peer after the handshake (Node gives authorizationError as a string, whatever its type says). */
function peer(authorized: boolean, certificate: Partial<PeerCertificate>, authorizationError?: string) {
  return { authorized, ...(authorizationError ? { authorizationError: authorizationError as unknown as Error } : {}), getPeerCertificate: () => certificate as PeerCertificate };
}

describe("webhook/refuseCaller (mutual TLS)", () => {
  const names = ["pinpool-webhook-client"];

  it("answers the API server's certificate", () => {
    expect(refuseCaller(peer(true, { subject: { CN: "pinpool-webhook-client" } }), names)).to.equal(undefined);
  });

  it("refuses a caller without a certificate, naming why", () => {
    expect(refuseCaller(peer(false, {}, "UNABLE_TO_GET_ISSUER_CERT"), names)).to.equal(
      "a client certificate signed by the API server's webhook client CA is required (UNABLE_TO_GET_ISSUER_CERT)",
    );
  });

  it("refuses a resumed session that reads as authorized but carries no certificate", () => {
    expect(refuseCaller(peer(true, {}), names)).to.equal("a client certificate signed by the API server's webhook client CA is required (no client certificate)");
  });

  it("refuses a verified certificate of another name", () => {
    expect(refuseCaller(peer(true, { subject: { CN: "mallory" } }), names)).to.equal('client certificate CN "mallory" is not one of pinpool-webhook-client');
  });
});
