// Builds the unpacked extension into dist/ (load it with --load-extension=dist):
//   1. runs scripts/export_rules.py: the crawler's parsing rules, the marketplaces and
//      the money tables as src/generated/rules.json (never edited by hand);
//   2. writes dist/manifest.json from manifest.json, with the content-script match
//      patterns of every marketplace;
//   3. bundles content.js (parser + panel + uPlot), background.js, options.js and
//      bridge.js (the website's sign-in, on the configured Pricewatch site);
//   4. bundles build/parser.js, the bare parser for the corpus tests.
// Run with `npm run build` (PYTHON names the interpreter; default ../.venv/bin/python).
// "pricewatch-shared-js/..." imports resolve to ../api/shared-js, the browser code the
// extension shares with the website (the website's build names it the same way).
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as esbuild from "esbuild";

const here = new URL(".", import.meta.url).pathname;
const python = process.env.PYTHON || (existsSync(`${here}../.venv/bin/python`) ? `${here}../.venv/bin/python` : "python3");

mkdirSync(`${here}src/generated`, { recursive: true });
mkdirSync(`${here}dist`, { recursive: true });
const exported = execFileSync(python, [`${here}scripts/export_rules.py`], { encoding: "utf8" });
writeFileSync(`${here}src/generated/rules.json`, exported);

const { markets } = JSON.parse(exported);
const manifest = JSON.parse(readFileSync(`${here}manifest.json`, "utf8"));
// HSTS sends every visit to https; product pages live on the www host of each market
manifest.content_scripts[0].matches = markets.map((m) => `https://www.${m.domain}/*`);
writeFileSync(`${here}dist/manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);
copyFileSync(`${here}src/options.html`, `${here}dist/options.html`);

const common = {
  bundle: true,
  alias: { "pricewatch-shared-js": `${here}../api/shared-js` },
  minify: true,
  format: "iife",
  target: ["chrome110"],
  legalComments: "none",
  logLevel: "warning",
  loader: { ".css": "text" },
};
await esbuild.build({
  ...common,
  entryPoints: [
    { in: `${here}src/content.js`, out: "content" },
    { in: `${here}src/background.js`, out: "background" },
    { in: `${here}src/options.js`, out: "options" },
    { in: `${here}src/bridge.js`, out: "bridge" },
  ],
  outdir: `${here}dist`,
});
await esbuild.build({
  ...common,
  minify: false,
  entryPoints: [`${here}src/parse.js`],
  globalName: "PricewatchParser",
  outfile: `${here}build/parser.js`,
});
