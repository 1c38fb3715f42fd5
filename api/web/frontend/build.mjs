// Bundles the front-end into ../static (served at /static): chart.js (uPlot and the
// product chart), site.js (forms, sign-in, my alerts), site.css (our styles plus
// uPlot's) and docs.js / docs.css (Swagger UI for the API documentation at /schema).
// Run with `npm run build`; `make` runs it through mk/web.mk.
// "pricewatch-shared-js/..." imports resolve to ../../shared-js (api/shared-js), the
// browser code the website shares with the extension (whose build names it the same way).
import * as esbuild from "esbuild";

const here = new URL(".", import.meta.url).pathname;

await esbuild.build({
  entryPoints: [
    { in: "src/chart.js", out: "chart" },
    { in: "src/site.js", out: "site" },
    { in: "src/site.css", out: "site" },
    // the API documentation page (/schema): Swagger UI and its styles
    { in: "src/docs.js", out: "docs" },
    { in: "src/docs.css", out: "docs" },
  ],
  outdir: "../static",
  alias: { "pricewatch-shared-js": `${here}../../shared-js` },
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome110", "firefox110", "safari16"],
  legalComments: "none",
  logLevel: "warning",
});
