// Guardrails live in lint config, not in review: a floating promise in a webhook or the
// agent is a lost error or a write that races the response.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

// Imports go one way: ip → api → k8s → reservation → webhook | agent → controller; metrics
// and config are leaves anyone may import. A lower layer importing a higher one fails lint.
const LAYERS = ["ip", "api", "k8s", "reservation", "webhook", "agent", "controller"];
const ABOVE = {
  ip: ["api", "k8s", "reservation", "webhook", "agent", "controller"],
  api: ["k8s", "reservation", "webhook", "agent", "controller"],
  k8s: ["reservation", "webhook", "agent", "controller"],
  reservation: ["webhook", "agent", "controller"],
  webhook: ["agent", "controller"],
  agent: ["webhook", "controller"],
  controller: [],
  metrics: [...LAYERS, "config"],
  config: [...LAYERS, "metrics"],
};
const layerRules = Object.entries(ABOVE)
  .filter(([, banned]) => banned.length > 0)
  .map(([layer, banned]) => ({
    files: [`src/${layer}/**/*.ts`],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: banned.map((b) => `../${b}/*`),
              message: `src/${layer} may not import from ${banned.map((b) => `src/${b}`).join(", ")}: imports go ip → api → k8s → reservation → webhook | agent → controller (metrics and config are leaves). Move the shared piece down a layer.`,
            },
          ],
        },
      ],
    },
  }));

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "src/cni/", ".cluster/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/explicit-module-boundary-types": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "max-depth": ["error", 4],
      "max-params": ["error", 5],
      "no-console": "off",
    },
  },
  ...layerRules,
  {
    files: ["eslint.config.js"],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // chai's expect(x).to.be.true is an expression statement by design.
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-unused-expressions": "off" },
  },
);
