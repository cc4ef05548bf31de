# Fresh machine: `make demo` (set up, fetch the film and its trailer, register, scan),
# `make test` (set up, run the test suite) and `make wheel-check` (build the wheel, install
# it into a fresh venv, use the installed CLI).
PYTHON ?= $(shell scripts/find_python.sh || echo python3.12)
VENV := .venv
BIN := $(VENV)/bin
MEDIA ?= $(HOME)/.cache/reeltrace-media/film
DEMO := demo-out

.PHONY: setup setup-scale test test-backends wheel-check demo bench clean

# pip and setuptools print pages of notices on a good install: they go to a log, shown
# (its last lines) only when the install fails.
$(BIN)/reeltrace: pyproject.toml
	@echo "setting up $(VENV) with $(PYTHON) (about 3 min the first time; pip's output: $(VENV)/setup.log)"
	@$(PYTHON) -m venv $(VENV)
	@{ $(BIN)/pip install --upgrade pip && $(BIN)/pip install -e '.[test]'; } > $(VENV)/setup.log 2>&1 \
		|| { tail -n 30 $(VENV)/setup.log; echo "setup failed: the whole log is $(VENV)/setup.log"; exit 1; }
	@touch $@

setup: $(BIN)/reeltrace

# Two pytest workers (pytest-xdist), one test file each at a time: the live-stream tests
# send their streams in real time and the browser tests wait on Chromium, so a second
# worker fills those waits. Measured on 2 cores: 447 tests in 5 min 17 s, against 7 min
# 37 s - 9 min 20 s in one process. TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# The scale-out backends (docs/scale-out.md): their Python packages, then the tests that
# start Milvus Lite, a local Ray cluster and a PostgreSQL server (Debian's) themselves; then
# the service suites with their tables in PostgreSQL and their libraries' vectors in Milvus
# Lite, and the library suites with the shared library's vectors in Milvus Lite: the same
# tests, the same answers (SQLite and FAISS: make test).
$(VENV)/.scale: pyproject.toml $(BIN)/reeltrace
	@{ $(BIN)/pip install -e '.[test,scale]'; } >> $(VENV)/setup.log 2>&1 \
		|| { tail -n 30 $(VENV)/setup.log; echo "setup failed: the whole log is $(VENV)/setup.log"; exit 1; }
	@touch $@

setup-scale: $(VENV)/.scale

test-backends: setup-scale
	$(BIN)/python -m pytest -q -m backend
	REELTRACE_TEST_DATABASE=postgres REELTRACE_TEST_VECTORS=milvus-lite $(BIN)/python -m pytest -q tests/test_service.py \
		tests/test_service_security.py tests/test_service_fuzz.py tests/test_rights_service.py tests/test_monitors.py
	REELTRACE_TEST_CATALOGUE=postgres REELTRACE_TEST_VECTORS=milvus-lite $(BIN)/python -m pytest -q tests/test_matching.py tests/test_reports.py \
		tests/test_cli.py tests/test_inputs.py tests/test_features_files.py tests/test_processes.py \
		tests/test_calibrate.py tests/test_live.py

wheel-check: setup
	scripts/wheel_check.sh $(BIN)/python

demo: setup
	PYTHON=$(BIN)/python scripts/fetch_demo_media.sh $(MEDIA)
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/reeltrace --library $(DEMO)/library register $(MEDIA)/bbb.mp4 --title "Big Buck Bunny" --owner "Blender Foundation" --category animation
	$(BIN)/reeltrace --library $(DEMO)/library scan $(MEDIA)/trailer_bbb.mp4
	$(BIN)/reeltrace --library $(DEMO)/library scan $(MEDIA)/trailer_bbb.mp4 --format json --output $(DEMO)/trailer.json
	$(BIN)/python -m reeltrace.bench.trailer $(MEDIA)/trailer.py $(DEMO)/trailer.json

clean:
	rm -rf $(VENV) $(DEMO) *.egg-info
