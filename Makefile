# The README's two commands: `make run` and `make test`. Nothing else is needed by hand.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FLASK := $(BIN)/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000

VENDOR := app/static/vendor/echarts.min.js app/static/vendor/axe.min.js

.PHONY: run test lint format bench browser office clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# ECharts (the dashboard) and axe-core (the browser tests' accessibility check) come from
# the npm registry and are served by the app itself (no CDN).
$(VENDOR) &: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	mkdir -p app/static/vendor
	cp node_modules/echarts/dist/echarts.min.js node_modules/axe-core/axe.min.js app/static/vendor/

# The browser tests drive Debian's Chromium; a CJK font makes their screenshots readable.
# pdftoppm (poppler-utils) turns the printed 督办单 into an image beside the screenshots.
browser:
	@command -v chromium >/dev/null && command -v pdftoppm >/dev/null && fc-list | grep -qi wqy || { apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei poppler-utils; }

# The ledger print test converts exported .xlsx files (Calc), the drafted reports their
# .docx files (Writer), with LibreOffice (headless) to PDF and poppler's pdftoppm to PNG,
# saved beside the browser screenshots.
office:
	@command -v soffice >/dev/null && command -v pdftoppm >/dev/null && ls /usr/lib/libreoffice/program/libswlo.so >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends libreoffice-calc libreoffice-writer poppler-utils; }

run: $(STAMP) $(VENDOR)
	$(FLASK) migrate
	$(FLASK) demo --if-empty
	$(FLASK) serve --host $(HOST) --port $(PORT)

# Two pytest-xdist workers, whole files to each (module fixtures are built once): the
# suite waits on PostgreSQL, Chromium, Celery and LibreOffice as much as on Python.
test: $(STAMP) $(VENDOR) browser office
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python bench/api.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/sweep.py
	$(BIN)/python bench/delivery.py
	$(BIN)/python bench/workdays.py
	$(BIN)/python bench/ledger.py

clean:
	rm -rf $(VENV) node_modules app/static/vendor .pytest_cache .ruff_cache .hypothesis test-artifacts
