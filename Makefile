# Pricewatch — `make up` runs everything on this machine, `make test` runs the suite.
# Both install what they need first (Debian/Ubuntu packages, then a virtualenv).

VENV ?= .venv
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# redis-server and postgresql: real services for the tests (and Redis for `up`);
# python3-venv: Debian's python3 ships venv separately.
DEB_PACKAGES := redis-server postgresql python3-venv python3-dev build-essential

include mk/web.mk
include mk/extension.mk

.PHONY: up test install system-deps lint bench clean

up: install
	$(VENV)/bin/pricewatch up

# The whole suite on a single Redis and, at the same time, the Redis-backed tests again
# on a local 3-master Redis Cluster (browser and slow end-to-end tests once, on the first
# pass; a test's PostgreSQL twin too: it differs from the SQLite one in the SQL store
# only). Most tests wait on servers and subprocesses rather than compute, so the two
# passes side by side take about as long as the first alone. The cluster pass writes to
# a file, shown once both have ended; either failing fails the target.
CLUSTER_PASS := --redis-cluster -m "redis and not browser and not slow and not postgres"

test: install
	@log=$$(mktemp); \
	$(VENV)/bin/pytest $(CLUSTER_PASS) -p no:cacheprovider >"$$log" 2>&1 & cluster=$$!; \
	$(VENV)/bin/pytest; first=$$?; \
	wait $$cluster; second=$$?; \
	echo '--- the Redis-backed tests on a Redis Cluster: pytest $(CLUSTER_PASS)'; \
	cat "$$log"; rm -f "$$log"; \
	[ $$first -eq 0 ] && [ $$second -eq 0 ]

install: system-deps $(VENV)/.installed

system-deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

LINTED := pricewatch crawler scheduler api alerts tests bench

lint: install
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy

bench: install
	for b in bench/*.py; do echo "== $$b"; $(VENV)/bin/python $$b | tail -1; done

clean:
	rm -rf $(VENV) build *.egg-info
