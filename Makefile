# The two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-sqlite test-postgres lint bench bench-nlu bench-checkout bench-routing bench-console bench-campaign bench-dashboard bench-cluster clean

install: $(STAMP)

# Re-installs only when the project's metadata changes, so `make install` is cheap to repeat.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# `make run PORT=8001 HOST=0.0.0.0` picks where to listen (default: server.host and server.port of
# config.yaml). Only from make's command line: many shells export HOST as the machine's own name.
SERVE_OPTIONS = $(if $(filter command line,$(origin HOST)),--host $(HOST)) \
                $(if $(filter command line,$(origin PORT)),--port $(PORT))

run: install
	$(BIN)/chatshop db upgrade
	$(BIN)/chatshop seed
	$(BIN)/chatshop serve $(strip $(SERVE_OPTIONS))

# CHATSHOP_TEST_DATABASE_URL picks the database (SQLite in a temp dir when unset). Then, when Node is
# installed, the mini-program client's tests (miniprogram/client, against a chatshop server of their own,
# always on SQLite: CLIENT_TESTS=no leaves them out of a second run on another database, as CI does).
CLIENT_TESTS ?= yes
test: install
	$(BIN)/pytest -q
	@if [ "$(CLIENT_TESTS)" = "no" ]; then echo "the mini-program client's tests ran with the other run"; \
	elif command -v node >/dev/null 2>&1; then \
	  test -d miniprogram/client/node_modules || npm --prefix miniprogram/client ci; \
	  npm --prefix miniprogram/client test; \
	elif [ "$$CI" = "true" ]; then echo "node not found: CI must run the mini-program client's tests" >&2; exit 1; \
	else echo "node not found: the mini-program client's tests are skipped"; fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy chatshop foundation storage web wechat bot intents commerce scheduler miniprogram staff wechat_sandbox

# ARGS passes options through, e.g. make bench ARGS="--customers 50 --duration 10".
bench: install
	$(BIN)/python bench/webhook.py $(ARGS)

# The FAQ matcher against BM25 on the held-out cases, and its speed at 10,000 FAQs.
bench-nlu: install
	$(BIN)/python bench/nlu.py $(ARGS)

# The checkout flash sale and pay notifications on PostgreSQL (resets the database it is given).
# ARGS passes options through, e.g. make bench-checkout ARGS="--database-url postgresql://.../mydb".
bench-checkout: install
	$(BIN)/python bench/checkout.py $(ARGS)

# Handoff routing with agents coming and going, from several processes at once, on SQLite and PostgreSQL
# (resets the database it is given). ARGS passes options through, e.g. make bench-routing ARGS="--seed 2".
bench-routing: install
	$(BIN)/python bench/routing.py $(ARGS)

# The console's live path: push to /wechat → the owning agent's event stream, 20 agents connected live.
bench-console: install
	$(BIN)/python bench/console.py $(ARGS)

# Campaigns: a million-customer audience counted and planned, 100,000 subscribe messages sent to the sandbox
# beside its own ceiling, and a sender SIGKILLed half-way (resets the database it is given; never `test`).
# ARGS passes options through, e.g. make bench-campaign ARGS="--customers 100000 --recipients 10000".
bench-campaign: install
	$(BIN)/python bench/campaign.py $(ARGS)

# The 数据 page on PostgreSQL (resets the database it is given, bench_dash by default): 1,000,000 orders and
# 20,000,000 views rolled up, then the overview, funnel and sources answers timed against the raw-table baseline.
# ARGS passes options through, e.g. make bench-dashboard ARGS="--orders 100000 --views 2000000".
bench-dashboard: install
	$(BIN)/python bench/dashboard.py $(ARGS)

# `chatshop serve --workers 1|2|4` on PostgreSQL under bench/webhook.py's load, side by side, with the CPU of
# chatshop, PostgreSQL and the load generator (resets the database it is given, chatshop_bench by default;
# never `test`). ARGS passes options through, e.g. make bench-cluster ARGS="--workers 1,2 --duration 10".
bench-cluster: install
	$(BIN)/python bench/cluster.py $(ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
