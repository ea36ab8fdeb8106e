# Two commands on a fresh machine: `make run` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
FLASK   := $(VENV)/bin/flask --app wsgi
HOST    ?= 127.0.0.1
PORT    ?= 5000

.PHONY: run test lint format bench translations clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Reinstall only when a requirements file changed.
$(VENV)/.installed: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Pinned in package-lock.json: wavesurfer.js (the recording player's waveform) and
# Chart.js (the statistics' charts), served by the app from node_modules, and Prism
# (the Twilio API mock the SMS tests run against).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Debian's chromium, which the browser tests drive through Playwright (no browser
# download). Order-only below: nothing is done when it is already installed.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
/usr/bin/chromium:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

# Debian's dovecot, the real IMAP server the e-mail tests start on a free port
# with a private config and mailbox (tests/imap_server.py). Order-only too.
/usr/sbin/dovecot:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dovecot-imapd

translations: $(VENV)/.installed
	$(VENV)/bin/pybabel compile -d app/translations -f 2>&1 | grep -v "^compiling" || true

run: $(VENV)/.installed node_modules/.installed translations
	APP_ENV=development $(FLASK) db upgrade
	@echo "Demo logins:"
	@APP_ENV=development $(FLASK) seed-demo
	@echo "Écoute runs at http://$(HOST):$(PORT)/  (API: http://$(HOST):$(PORT)/api/openapi.json)"
	@echo "Play a call in another terminal: $(FLASK) simulate-call --from 0197000000 --press 1,1"
	@echo "Citizens' pages (no login): http://$(HOST):$(PORT)/public  ·  public figures: http://$(HOST):$(PORT)/public/stats"
	APP_ENV=development $(FLASK) run --host $(HOST) --port $(PORT)

test: $(VENV)/.installed node_modules/.installed translations | /usr/bin/chromium /usr/sbin/dovecot
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.installed translations
	$(PY) bench/webhooks.py

# Re-extract the staff pages' strings after changing them, then translate the .po.
messages: $(VENV)/.installed
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -o app/translations/messages.pot .
	$(VENV)/bin/pybabel update -i app/translations/messages.pot -d app/translations

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
