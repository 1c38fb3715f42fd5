# The website's front-end: api/web/frontend (uPlot, Swagger UI + page scripts) and the
# browser code it shares with the extension (api/shared-js) bundled by esbuild into
# api/web/static/{chart.js,site.js,site.css,docs.js,docs.css}. The bundles are not
# committed; they are rebuilt whenever a source file or the lockfile changes.
# Included from the Makefile (after DEB_PACKAGES is set): `up` and `test` need the
# bundles, and the tests drive Debian's Chromium through Playwright. `npm ci` installs the
# devDependencies too: axe-core is what the accessibility tests run in those pages.

WEB_FRONTEND := api/web/frontend
WEB_STATIC := api/web/static
WEB_BUNDLES := $(WEB_STATIC)/chart.js $(WEB_STATIC)/site.js $(WEB_STATIC)/site.css \
	$(WEB_STATIC)/docs.js $(WEB_STATIC)/docs.css
# browser code shared with the extension (api/shared-js/README.md); both builds read it
SHARED_JS := $(wildcard api/shared-js/*.js)
WEB_SOURCES := $(wildcard $(WEB_FRONTEND)/src/*) $(WEB_FRONTEND)/build.mjs $(SHARED_JS)
# npm ci rewrites this file on every install: it stands for "node_modules is current"
WEB_NODE_MODULES := $(WEB_FRONTEND)/node_modules/.package-lock.json

.PHONY: web web-deps

up test: web
# target-specific: only the test run needs a browser
test: DEB_PACKAGES += chromium

web: $(WEB_BUNDLES)

# Node.js comes from the system; Debian's own packages are enough (Node 18+).
web-deps:
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing Debian packages: nodejs npm"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm; \
	}

$(WEB_NODE_MODULES): $(WEB_FRONTEND)/package.json $(WEB_FRONTEND)/package-lock.json | web-deps
	cd $(WEB_FRONTEND) && npm ci --no-audit --no-fund
	touch $@

$(WEB_BUNDLES) &: $(WEB_SOURCES) $(WEB_NODE_MODULES)
	cd $(WEB_FRONTEND) && npm run build
	touch $(WEB_BUNDLES)
