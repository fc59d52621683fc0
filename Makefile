# journeybot: `make run` starts the product, `make test` runs every test.
# Both set up what they need (virtualenv from the pinned lock) on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test install lock bench clean help

help:
	@echo "make run    - install, migrate, train if needed, start Rasa (5005), actions (5055), console/API (5080)"
	@echo "make test   - install and run the whole test suite"
	@echo "make bench  - run the turn-latency benchmark (see README)"
	@echo "make lock   - regenerate requirements/lock.txt from requirements/requirements.in"

install: $(INSTALLED)

# Rasa 3.6 declares Python <3.11 but runs on 3.11 from a fully pinned lock installed
# without the resolver; see README "Dependencies".
$(INSTALLED): requirements/lock.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@mkdir -p var
	@echo "journeybot: installing pinned dependencies into $(VENV) (log: var/install.log)"
	@$(BIN)/python -m pip install --no-deps --ignore-requires-python -r requirements/lock.txt > var/install.log 2>&1 \
		|| { tail -n 30 var/install.log; echo "journeybot: dependency install failed; see var/install.log"; exit 1; }
	@$(BIN)/python -m pip install --no-deps --no-build-isolation -e . >> var/install.log 2>&1 \
		|| { tail -n 30 var/install.log; echo "journeybot: installing journeybot itself failed"; exit 1; }
	@touch $@

run: $(INSTALLED)
	@$(BIN)/journeybot up || [ $$? -eq 130 ]  # 130: stopped with Ctrl-C

test: $(INSTALLED)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "journeybot: pytest collected no tests (exit 5); nothing to run for '$(PYTEST_ARGS)'"; rc=0; fi; \
	exit $$rc

bench: $(INSTALLED)
	@$(BIN)/python bench/turn_latency.py

lock:
	$(PYTHON) -m pip install -q uv
	$(PYTHON) -m uv pip compile --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
		--override requirements/overrides.txt requirements/requirements.in -o requirements/lock.txt

clean:
	rm -rf $(VENV) models .pytest_cache
