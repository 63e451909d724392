# The two commands of the README: `make demo` and `make test`. Both set up first.
PY := .venv/bin/python

.PHONY: setup demo test lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) run.py scenarios/quickstart.yaml

test: setup
	.venv/bin/ruff check .
	.venv/bin/mypy agents environment renderers run.py
	$(PY) -m pytest -q

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench: setup
	$(PY) bench/pipeline.py
	$(PY) bench/latency.py

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
