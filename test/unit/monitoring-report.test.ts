import { expect } from "chai";
import { chartSvg, legendName, renderReport, toLines } from "../../scripts/monitoring/report.js";

describe("scripts/monitoring/report.ts: Prometheus series → SVG page", () => {
  const chart = {
    title: "Pool utilisation",
    unit: "ratio" as const,
    lines: toLines(
      [
        { metric: { pool: "nginx-v4-ippool" }, values: [[100, "0"], [102, "0.5"], [104, "NaN"], [106, "1"], [108, "1"]] },
        { metric: { pool: "auto4-nginx" }, values: [[100, "0.4"], [108, "0.6"]] },
      ],
      "{{pool}}",
    ),
  };

  it("names lines with the panel's legendFormat, sorted", () => {
    expect(chart.lines.map((l) => l.name)).to.deep.equal(["auto4-nginx", "nginx-v4-ippool"]);
    expect(legendName("{{ command }} {{result}}", { result: "none" })).to.equal(" none");
  });

  it("draws one polyline per run of finite points (NaN is a gap), scaled to the time range and 0-100%", () => {
    const svg = chartSvg(chart, 100, 108);
    const polylines = [...svg.matchAll(/<polyline [^>]*points="([^"]+)"/g)].map((m) => (m[1] as string).split(" "));
    expect(polylines.map((p) => p.length)).to.deep.equal([2, 2, 2]);
    // x from 64 (start) to 744 (end); y from 212 (0%) to 12 (100%)
    expect(polylines[0]).to.deep.equal(["64.0,132.0", "744.0,92.0"]);
    expect(polylines[1]).to.deep.equal(["64.0,212.0", "234.0,112.0"]);
    expect(polylines[2]).to.deep.equal(["574.0,12.0", "744.0,12.0"]);
    expect(svg.match(/<circle /g)?.length, "a marker per finite sample").to.equal(6);
    expect(svg).to.include(">100%</text>").and.not.include("no data");
  });

  it("says 'no data' for a chart without a finite value, and escapes names in the page", () => {
    expect(chartSvg({ title: "t", unit: "seconds", lines: [{ name: "p99", points: [[1, NaN]] }] }, 0, 10)).to.include("no data");
    const html = renderReport({ title: "pinpool <demo>", start: 100, end: 108, charts: [{ ...chart, lines: [{ name: "<b>", points: [[100, 0.25]] }] }] });
    expect(html).to.include("pinpool &#60;demo&#62;").and.include("&#60;b&#62; — 25% (last value)").and.not.include("<b>");
    expect(html).to.not.match(/<script|https?:\/\/(?!www\.w3\.org)/);
  });
});
