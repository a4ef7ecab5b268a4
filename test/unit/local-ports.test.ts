import { expect } from "chai";
import { localPorts } from "../../scripts/cluster/ports.js";

describe("scripts/cluster/ports.ts: the local components' ports", () => {
  it("are the documented ones without an offset, all moved by PINPOOL_LOCAL_PORT_OFFSET", () => {
    expect(localPorts({})).to.deep.equal({ webhook: 19443, controllerMetrics: 19090, agentMetrics: 19091, prometheus: 19099 });
    expect(localPorts({ PINPOOL_LOCAL_PORT_OFFSET: "1000" })).to.deep.equal({ webhook: 20443, controllerMetrics: 20090, agentMetrics: 20091, prometheus: 20099 });
  });

  it("refuses an offset that is not a whole number or pushes a port out of range, quoting it", () => {
    expect(() => localPorts({ PINPOOL_LOCAL_PORT_OFFSET: "1e9" })).to.throw('PINPOOL_LOCAL_PORT_OFFSET is "1e9"; expected a whole number');
    expect(() => localPorts({ PINPOOL_LOCAL_PORT_OFFSET: "ten" })).to.throw('PINPOOL_LOCAL_PORT_OFFSET is "ten"');
    expect(() => localPorts({ PINPOOL_LOCAL_PORT_OFFSET: "1.5" })).to.throw("1024-65535");
  });
});
