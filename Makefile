# The two commands of README.md, and what they stand on. Every target is idempotent.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MLSERVER_VENV  := .venv-mlserver
MLSERVER_STAMP := $(MLSERVER_VENV)/.installed
BENCH_VENV     := .venv-bench
BENCH_STAMP    := $(BENCH_VENV)/.installed

.PHONY: demo test setup system-deps down status lock clean bench-bridge

## make demo: bring the local platform up and run the streaming-ML loop end to end.
demo: setup
	$(BIN)/helicon demo

## make test: the whole test suite against a real Kafka broker, MLflow server and S3 endpoint.
test: setup $(MLSERVER_STAMP)
	$(BIN)/pytest

setup: system-deps $(STAMP)
	$(BIN)/helicon local fetch

# Java 17, Maven and kcat (an outside Kafka client the tests use); installed with apt-get when missing.
system-deps:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn  >/dev/null || missing="$$missing maven"; \
	command -v kcat >/dev/null || missing="$$missing kcat"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null; then \
	    sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	    echo "installing:$$missing"; \
	    $$sudo apt-get update -qq && $$sudo apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "error: missing$$missing — install them with your package manager"; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: $(PYTHON) is older than Python 3.11 — install 3.11 or run make PYTHON=python3.11"; exit 1; }
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

# MLServer (+ its MLflow runtime) in its own virtualenv: its pins clash with Helicon's MLflow 3.
# The bridge's OIP tests and benchmark start it as a separate process, as Seldon would run it.
$(MLSERVER_STAMP): .ci/mlserver-requirements.txt .ci/mlserver-constraints.txt
	[ -x $(MLSERVER_VENV)/bin/python ] || $(PYTHON) -m venv $(MLSERVER_VENV)
	$(MLSERVER_VENV)/bin/python -m pip install -q --upgrade pip
	$(MLSERVER_VENV)/bin/python -m pip install -q -c .ci/mlserver-constraints.txt -r .ci/mlserver-requirements.txt
	touch $@

# Benchmark peers whose pins clash with Helicon's (Quix Streams); not needed by the tests.
$(BENCH_STAMP): .ci/bench-requirements.txt .ci/bench-constraints.txt
	[ -x $(BENCH_VENV)/bin/python ] || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -c .ci/bench-constraints.txt -r .ci/bench-requirements.txt
	touch $@

## make bench-bridge: the bridge benchmark (not a test); writes bench/results/bridge.md.
bench-bridge: setup $(MLSERVER_STAMP) $(BENCH_STAMP)
	$(BIN)/python -m bench.bridge

down:
	$(BIN)/helicon local down

status:
	$(BIN)/helicon local status

# Re-resolve constraints.txt (the pins CI installs) from pyproject.toml in a scratch environment.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --upgrade pip
	.lock-venv/bin/python -m pip install -q -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^helicon' > constraints.txt
	rm -rf .lock-venv

clean: down
	rm -rf $(VENV) $(MLSERVER_VENV) $(BENCH_VENV) .helicon
