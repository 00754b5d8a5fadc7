# Timebank: `make run` serves the app with demo data; `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CATALOGS := $(wildcard timebank/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)
NPM ?= npm
# Front-end libraries: installed from the npm registry by package-lock.json and copied into
# a gitignored folder the app serves as static files (never committed, never from a CDN).
VENDOR := timebank/static/vendor
VENDORED := $(VENDOR)/jsQR.js
export FLASK_APP := wsgi

.PHONY: install run test lint format translations extract bench bench-http bench-ledger bench-import bench-checkin bench-redemption bench-city clean

install: $(STAMP) $(COMPILED) $(VENDORED)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@ --statistics

translations: $(COMPILED)

# npm ci only when the lock file changed; node_modules/.package-lock.json is npm's own stamp.
node_modules/.package-lock.json: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

$(VENDOR)/jsQR.js: node_modules/.package-lock.json
	@mkdir -p $(VENDOR)
	@cp node_modules/jsqr/dist/jsQR.js $@

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-empty
	@echo "Serving http://127.0.0.1:5000"
	$(BIN)/flask run --host 127.0.0.1 --port 5000

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Pull new strings into the catalogues; translators then fill the .po files.
extract: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 -o timebank/translations/messages.pot .
	$(BIN)/pybabel update -i timebank/translations/messages.pot -d timebank/translations --no-fuzzy-matching

bench: bench-http bench-ledger bench-import bench-checkin

bench-http: install
	$(BIN)/python bench/http_baseline.py

bench-ledger: install
	$(BIN)/python bench/ledger.py

bench-import: install
	$(BIN)/python bench/volunteer_import.py

bench-checkin: install
	$(BIN)/python bench/checkin_burst.py

bench-redemption: install
	$(BIN)/python bench/redemption_burst.py

# The whole city (383,000 volunteers) on each backend: tens of minutes and several GiB.
bench-city: install
	$(BIN)/python bench/city_dashboard.py

clean:
	rm -rf $(VENV) instance .pytest_cache node_modules $(VENDOR)
