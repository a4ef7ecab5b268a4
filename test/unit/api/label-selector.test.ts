import { expect } from "chai";
import fc from "fast-check";
import { selectorKeys, selectorMiss } from "../../../src/api/label-selector.js";
import type { LabelSelector } from "../../../src/api/types.js";

describe("api/selectorMiss (Kubernetes label selectors)", () => {
  const rack = { rack: "a", zone: "z1" };

  it("matches everything with an empty selector, and with empty matchLabels and matchExpressions", () => {
    expect(selectorMiss({}, {})).to.equal(undefined);
    expect(selectorMiss({ matchLabels: {}, matchExpressions: [] }, rack)).to.equal(undefined);
  });

  it("matchLabels: every pair must be there with that value", () => {
    expect(selectorMiss({ matchLabels: { rack: "a", zone: "z1" } }, rack)).to.equal(undefined);
    expect(selectorMiss({ matchLabels: { rack: "b" } }, rack)).to.deep.equal({ requirement: "rack=b", found: "rack=a" });
    expect(selectorMiss({ matchLabels: { gpu: "true" } }, rack)).to.deep.equal({ requirement: "gpu=true", found: "no label gpu" });
    expect(selectorMiss({ matchLabels: { empty: "" } }, { empty: "" })).to.equal(undefined);
    expect(selectorMiss({ matchLabels: { empty: "" } }, {})).to.deep.equal({ requirement: "empty=", found: "no label empty" });
  });

  it("In: the label must be there with one of the values", () => {
    const sel: LabelSelector = { matchExpressions: [{ key: "rack", operator: "In", values: ["a", "b"] }] };
    expect(selectorMiss(sel, rack)).to.equal(undefined);
    expect(selectorMiss(sel, { rack: "c" })).to.deep.equal({ requirement: "rack in (a,b)", found: "rack=c" });
    expect(selectorMiss(sel, {})).to.deep.equal({ requirement: "rack in (a,b)", found: "no label rack" });
  });

  it("NotIn: a listed value fails; a missing label passes, as in Kubernetes", () => {
    const sel: LabelSelector = { matchExpressions: [{ key: "rack", operator: "NotIn", values: ["a"] }] };
    expect(selectorMiss(sel, rack)).to.deep.equal({ requirement: "rack notin (a)", found: "rack=a" });
    expect(selectorMiss(sel, { rack: "b" })).to.equal(undefined);
    expect(selectorMiss(sel, {})).to.equal(undefined);
  });

  it("Exists and DoesNotExist look at the key only", () => {
    const exists: LabelSelector = { matchExpressions: [{ key: "gpu", operator: "Exists" }] };
    expect(selectorMiss(exists, { gpu: "" })).to.equal(undefined);
    expect(selectorMiss(exists, rack)).to.deep.equal({ requirement: "gpu", found: "no label gpu" });
    const absent: LabelSelector = { matchExpressions: [{ key: "gpu", operator: "DoesNotExist" }] };
    expect(selectorMiss(absent, rack)).to.equal(undefined);
    expect(selectorMiss(absent, { gpu: "yes" })).to.deep.equal({ requirement: "!gpu", found: "gpu=yes" });
  });

  it("needs every requirement (AND), and names the first that fails", () => {
    const sel: LabelSelector = { matchLabels: { zone: "z1" }, matchExpressions: [{ key: "rack", operator: "In", values: ["a"] }, { key: "gpu", operator: "Exists" }] };
    expect(selectorMiss(sel, { ...rack, gpu: "1" })).to.equal(undefined);
    expect(selectorMiss(sel, rack)).to.deep.equal({ requirement: "gpu", found: "no label gpu" });
    expect(selectorMiss(sel, { zone: "z2", rack: "b" })).to.deep.equal({ requirement: "zone=z1", found: "zone=z2" });
  });

  it("selects nothing with an invalid selector, as Kubernetes refuses to build it, saying which expression", () => {
    expect(selectorMiss({ matchExpressions: [{ key: "rack", operator: "In", values: [] }] }, rack)).to.deep.equal({ invalid: 'matchExpressions[0] (key "rack"): operator In needs at least one value' });
    expect(selectorMiss({ matchExpressions: [{ key: "rack", operator: "NotIn" }] }, {})).to.deep.equal({ invalid: 'matchExpressions[0] (key "rack"): operator NotIn needs at least one value' });
    expect(selectorMiss({ matchExpressions: [{ key: "gpu", operator: "Exists", values: ["x"] }] }, { gpu: "x" })).to.deep.equal({ invalid: 'matchExpressions[0] (key "gpu"): operator Exists takes no values, got 1' });
    const bogus = { matchExpressions: [{ key: "gpu", operator: "Gt" as never, values: ["1"] }] };
    expect(selectorMiss(bogus, { gpu: "2" })).to.deep.equal({ invalid: 'matchExpressions[0] (key "gpu"): operator "Gt" is not In, NotIn, Exists or DoesNotExist' });
  });

  it("never reads a label from the prototype", () => {
    expect(selectorMiss({ matchExpressions: [{ key: "constructor", operator: "Exists" }] }, {})).to.deep.equal({ requirement: "constructor", found: "no label constructor" });
  });

  it("lists the keys a selector looks at", () => {
    expect(selectorKeys({ matchLabels: { a: "1" }, matchExpressions: [{ key: "b", operator: "Exists" }] })).to.deep.equal(["a", "b"]);
    expect(selectorKeys({})).to.deep.equal([]);
  });

  it("agrees with a naive reading for random selectors and labels (In and NotIn are complements where the key is set)", () => {
    const key = fc.constantFrom("a", "b", "c");
    const value = fc.constantFrom("1", "2", "3");
    const labels = fc.dictionary(key, value);
    const expression = fc.record({ key, operator: fc.constantFrom("In", "NotIn", "Exists", "DoesNotExist" as const), values: fc.uniqueArray(value, { minLength: 1, maxLength: 3 }) });
    fc.assert(
      fc.property(fc.dictionary(key, value), fc.array(expression, { maxLength: 3 }), labels, (matchLabels, expressions, l) => {
        const exprs = expressions.map((e) => (e.operator === "Exists" || e.operator === "DoesNotExist" ? { key: e.key, operator: e.operator } : e));
        const naive =
          Object.entries(matchLabels).every(([k, v]) => l[k] === v) &&
          exprs.every((e) => {
            const v = l[e.key];
            if (e.operator === "In") return v !== undefined && (e.values ?? []).includes(v);
            if (e.operator === "NotIn") return v === undefined || !(e.values ?? []).includes(v);
            return e.operator === "Exists" ? v !== undefined : v === undefined;
          });
        expect(selectorMiss({ matchLabels, matchExpressions: exprs }, l) === undefined).to.equal(naive);
        for (const e of expressions) {
          if (!(e.key in l)) continue;
          const inMiss = selectorMiss({ matchExpressions: [{ ...e, operator: "In" }] }, l);
          const notInMiss = selectorMiss({ matchExpressions: [{ ...e, operator: "NotIn" }] }, l);
          expect(inMiss === undefined).to.not.equal(notInMiss === undefined);
        }
      }),
    );
  });
});
