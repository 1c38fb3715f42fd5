// Bundles the front-end into ../static (served at /static): chart.js (uPlot and the
// product chart), site.js (forms, sign-in, my alerts) and site.css (our styles plus
// uPlot's). Run with `npm run build`; `make` runs it through mk/web.mk.
import * as esbuild from "esbuild";

await esbuild.build({
  entryPoints: [
    { in: "src/chart.js", out: "chart" },
    { in: "src/site.js", out: "site" },
    { in: "src/site.css", out: "site" },
  ],
  outdir: "../static",
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome110", "firefox110", "safari16"],
  legalComments: "none",
  logLevel: "warning",
});
