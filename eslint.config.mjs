// ESLint for the explore page's JavaScript (minicnn/explore_assets/page.js): a plain script
// in the browser, no modules. `npm ci && npx eslint` (.ci/run; tests/test_explore_lint.py).
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["node_modules/", ".venv/", ".mutation/", "mutants/", "build/"] },
  js.configs.recommended,
  {
    files: ["minicnn/explore_assets/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "script",
      globals: { ...globals.browser },
    },
    rules: {
      "no-unused-vars": ["error", { args: "none" }],
      "no-var": "error",
      "prefer-const": "error",
      eqeqeq: "error",
      curly: ["error", "multi-line"],
      "no-shadow": "error",
      complexity: ["error", 12],
      "max-len": ["error", { code: 100 }],
    },
  },
];
