# journeybot: `make run` starts the product, `make test` runs every test.
# Both set up what they need (virtualenv from the pinned lock) on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test install web lock bench eval-nlu nlu-data browser-deps clean help
EVAL ?= ../shared/eval
BITEXT := $(EVAL)/bitext_intent_detection/Bitext_Sample_Customer_Service
CHROMIUM ?= /usr/bin/chromium

help:
	@echo "make run    - install, migrate, train if needed, start Rasa (5005), actions (5055), console/API (5080)"
	@echo "make test   - install and run the whole test suite"
	@echo "make bench  - run the turn-latency benchmark (see README)"
	@echo "make lock   - regenerate requirements/lock.txt from requirements/requirements.in"
	@echo "make eval-nlu  - accuracy / macro-F1 of the trained NLU on the evaluation sets in $(EVAL)"
	@echo "make nlu-data  - regenerate data/nlu from the public training sets in $(EVAL)"

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

WEB_DIR := bot/console/web
WEB_INSTALLED := $(WEB_DIR)/node_modules/.journeybot-installed

web: $(WEB_INSTALLED)

# The storefront's chat widget (rasa-webchat) from the npm lock; the console serves it, no CDN.
$(WEB_INSTALLED): $(WEB_DIR)/package.json $(WEB_DIR)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "journeybot: npm not found; install Node.js 18+ with npm (the storefront chat widget comes from npm)"; exit 1; }
	@mkdir -p var
	@echo "journeybot: installing the chat widget (npm ci in $(WEB_DIR); log: var/npm.log)"
	@cd $(WEB_DIR) && npm ci --ignore-scripts --no-audit --no-fund > $(CURDIR)/var/npm.log 2>&1 \
		|| { tail -n 30 $(CURDIR)/var/npm.log; echo "journeybot: npm ci failed; see var/npm.log"; exit 1; }
	@touch $@

run: $(INSTALLED) $(WEB_INSTALLED)
	@$(BIN)/journeybot up || [ $$? -eq 130 ]  # 130: stopped with Ctrl-C

# Browser tests drive Debian's Chromium; install it when missing (needs root or sudo).
browser-deps:
	@mkdir -p var; test -x $(CHROMIUM) || { echo "journeybot: installing Debian's chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium > var/apt.log 2>&1 \
		|| { tail -n 20 var/apt.log; echo "journeybot: could not install chromium"; exit 1; }; }

test: $(INSTALLED) $(WEB_INSTALLED) browser-deps
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "journeybot: pytest collected no tests (exit 5); nothing to run for '$(PYTEST_ARGS)'"; rc=0; fi; \
	exit $$rc

bench: $(INSTALLED)
	@$(BIN)/python bench/turn_latency.py

eval-nlu: $(INSTALLED)
	$(BIN)/journeybot eval-nlu \
		--bitext-csv $(BITEXT)_Testing_Dataset.csv \
		--bitext-csv $(BITEXT)_Validation_Dataset.csv \
		--bitext-csv $(EVAL)/bitext_20k_2020/TrainingdatasetBitextsample.csv \
		--intent-map check_invoices=check_invoice \
		--clinc-json $(EVAL)/clinc150/data_full.json

# Held-out sets are passed only so that none of their utterances is ever trained on.
nlu-data: $(INSTALLED)
	$(BIN)/python tools/nlu_data/build_data.py --bitext-train $(BITEXT)_Training_Dataset.csv \
		--holdout-csv $(BITEXT)_Testing_Dataset.csv --holdout-csv $(BITEXT)_Validation_Dataset.csv \
		--holdout-csv $(EVAL)/bitext_20k_2020/TrainingdatasetBitextsample.csv \
		--clinc-json $(EVAL)/clinc150/data_full.json --out data/nlu \
		--deentity --augment 0.5 --synonyms 0.5 --paraphrases 4 --oos-per-intent 25 --seed 13
	python3 $(EVAL)/../tools/check_leaks.py .

lock:
	$(PYTHON) -m pip install -q uv
	$(PYTHON) -m uv pip compile --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
		--override requirements/overrides.txt requirements/requirements.in -o requirements/lock.txt

clean:
	rm -rf $(VENV) models .pytest_cache $(WEB_DIR)/node_modules
