# Thin wrappers around scripts/ (the scripts are the source of truth).
#   make run            app + worker + beat (+ Redis) on http://127.0.0.1:8000
#   make test           lint + migration check + pytest (throwaway PostgreSQL/Redis)
#   make test ARGS='gigs/tests/test_x.py -k foo'
#   make lint / make fmt

.PHONY: run test lint fmt venv

ARGS ?=

run:
	scripts/run

test:
	scripts/test $(ARGS)

# dev requirements (ruff) installed/up to date; cheap when nothing changed
venv:
	@bash -c 'source scripts/lib.sh && ensure_venv requirements-dev.txt'

lint: venv
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

fmt: venv
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .
