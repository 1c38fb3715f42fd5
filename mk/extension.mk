# The browser extension: extension/ (Chrome MV3) built by esbuild into extension/dist,
# the unpacked extension to load (chrome://extensions -> "Load unpacked", or
# --load-extension). The build runs extension/scripts/export_rules.py with the
# virtualenv's Python, so the page rules, marketplaces and money tables it bundles are
# the ones the crawler reads (pricewatch/page_rules/, markets.py, money.py); it reruns
# whenever one of those modules, or the browser code shared with the website
# (api/shared-js), changes.
# Included from the Makefile after mk/web.mk (it reuses web-deps for Node.js):
# `up` and `test` need the build; the tests load it into Debian's Chromium.

EXT_DIR := extension
EXT_OUTPUTS := $(EXT_DIR)/dist/manifest.json $(EXT_DIR)/dist/content.js \
  $(EXT_DIR)/dist/background.js $(EXT_DIR)/dist/options.js $(EXT_DIR)/dist/options.html \
  $(EXT_DIR)/dist/bridge.js \
  $(EXT_DIR)/build/parser.js $(EXT_DIR)/src/generated/rules.json
# SHARED_JS (the browser code shared with the website) is set in mk/web.mk
EXT_SOURCES := $(wildcard $(EXT_DIR)/src/*.*) $(EXT_DIR)/build.mjs $(EXT_DIR)/manifest.json \
  $(EXT_DIR)/scripts/export_rules.py $(wildcard pricewatch/page_rules/*.py) pricewatch/markets.py \
  pricewatch/money.py $(SHARED_JS)
# npm ci rewrites this file on every install: it stands for "node_modules is current"
EXT_NODE_MODULES := $(EXT_DIR)/node_modules/.package-lock.json

.PHONY: extension

up test: extension

extension: $(EXT_OUTPUTS)

$(EXT_NODE_MODULES): $(EXT_DIR)/package.json $(EXT_DIR)/package-lock.json | web-deps
	cd $(EXT_DIR) && npm ci --no-audit --no-fund
	touch $@

# order-only: the build needs the project installed, not rebuilt on every reinstall
$(EXT_OUTPUTS) &: $(EXT_SOURCES) $(EXT_NODE_MODULES) | $(VENV)/.installed
	cd $(EXT_DIR) && PYTHON=$(abspath $(VENV))/bin/python npm run build
	touch $(EXT_OUTPUTS)
