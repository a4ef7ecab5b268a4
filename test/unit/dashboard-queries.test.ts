import { expect } from "chai";
import { fillGrafanaVariables, panelQueries } from "../../scripts/monitoring/dashboard.js";
import { METRIC } from "../../src/metrics/names.js";

describe("scripts/monitoring/dashboard.ts: the dashboard's queries as Grafana sends them", () => {
  const w = { intervalSeconds: 2, scrapeSeconds: 2, rangeSeconds: 600 };

  it("fills $__rate_interval as Grafana does: max($__interval + scrape interval, 4 × scrape interval)", () => {
    expect(fillGrafanaVariables("rate(x[$__rate_interval])", w)).to.equal("rate(x[8s])");
    expect(fillGrafanaVariables("rate(x[$__rate_interval])", { ...w, intervalSeconds: 60 })).to.equal("rate(x[62s])");
    expect(fillGrafanaVariables("increase(x[${__range}]) / $__interval_ms", w)).to.equal("increase(x[600s]) / 2000");
  });

  it("refuses a variable it does not know, naming it and the known ones", () => {
    expect(() => fillGrafanaVariables('x{pool="$pool"}', w)).to.throw('uses $pool; known variables: $__interval');
  });

  it("finds every panel's targets, every query fillable, and a stat panel for address conflicts", () => {
    const queries = panelQueries();
    expect(new Set(queries.map((q) => q.panel)).size).to.equal(12);
    for (const q of queries) expect(() => fillGrafanaVariables(q.expr, w), `${q.panel} ${q.refId}`).to.not.throw();
    expect(queries.filter((q) => q.type === "stat").map((q) => q.expr)).to.deep.equal([`max(${METRIC.addressConflicts})`]);
  });
});
