# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test install clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rskeras demo

# Two pytest workers (pytest-xdist), each test file on one worker: README blocks and notebooks keep their order.
TEST_WORKERS ?= 2

test: $(STAMP)
	RSKERAS_FAST=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=30

clean:
	rm -rf $(VENV) outputs .pytest_cache
