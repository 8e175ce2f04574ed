# FlowDesk: two commands do everything on a fresh machine.
#   make run   - install, initialise the embedded SQLite database, deploy the shipped processes, serve
#   make test  - the same install, then lint, types and the whole test suite

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := web/static/vendor
VENDOR_STAMP := $(VENDOR)/.installed
PO_FILES := $(wildcard web/translations/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)
CHROMIUM := /usr/bin/chromium
PYTEST_ARGS ?=

.PHONY: run test install lint types db deploy browser clean bench translations

run: install db deploy
	@echo ""
	@echo "FlowDesk is starting at http://$${FLOWDESK_HOST:-127.0.0.1}:$${FLOWDESK_PORT:-5000}"
	@echo "Demo logins (password demo-pass unless shown):"
	@echo "  service desk: dora, dan        department heads: hank     leaders: leo, lena"
	@echo "  specialists: sam, sara, sean   assistants: alice, arthur  technicians: tom, tina, ted"
	@echo "  maintenance: mark, mia         service dept: sue, steve   supervisors: sophie, simon"
	@echo "  quality: quinn, derek (designer: the Processes page)"
	@echo "  auditor: audrey                admin: admin / admin-pass"
	$(BIN)/flowdesk serve

test: install browser lint types
	FLOWDESK_DATABASE_URL= $(BIN)/pytest -q -n 2 --dist loadfile $(PYTEST_ARGS)

install: $(STAMP) $(VENDOR_STAMP) $(MO_FILES)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Front-end libraries come from npm at setup and are served by the app; never from a CDN at run time.
# bpmn-js (viewer and modeler), dmn-js (decision tables), ECharts (reports). axe-core stays in
# node_modules: only the browser tests inject it.
$(VENDOR_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	mkdir -p $(VENDOR)
	cp node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js $(VENDOR)/
	cp node_modules/bpmn-js/dist/bpmn-modeler.production.min.js $(VENDOR)/
	cp node_modules/bpmn-js/dist/assets/bpmn-js.css $(VENDOR)/
	cp node_modules/bpmn-js/dist/assets/diagram-js.css $(VENDOR)/
	cp -r node_modules/bpmn-js/dist/assets/bpmn-font $(VENDOR)/
	cp node_modules/dmn-js/dist/dmn-modeler.production.min.js $(VENDOR)/
	mkdir -p $(VENDOR)/dmn-js
	cp -r node_modules/dmn-js/dist/assets/. $(VENDOR)/dmn-js/
	cp node_modules/echarts/dist/echarts.min.js $(VENDOR)/
	touch $(VENDOR_STAMP)

# The catalogues (.po) are committed; the compiled .mo files are built here and never committed.
web/translations/%/LC_MESSAGES/messages.mo: web/translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel -q compile -f -i $< -o $@

# Engine errors are raised with a message template (NotFound("no task %(task)s", task=...)): extracting
# their constructors lets the web layer show them in the user's language.
ERROR_KEYWORDS := $(foreach k,EngineError NotFound NotAllowed Conflict InvalidInput TaskNotReady TaskHeldByOther ProcessFailed,-k $(k))

# After changing a user-visible text: extract it and merge it into every catalogue, then translate
# the new entries (tests/unit/test_translations.py fails while any is missing).
translations: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext $(ERROR_KEYWORDS) --no-location --sort-output \
		--project FlowDesk -o web/translations/messages.pot .
	$(BIN)/pybabel -q update --no-fuzzy-matching --ignore-obsolete -i web/translations/messages.pot -d web/translations

# Browser tests drive Debian's chromium through Playwright, with a CJK font for the Chinese pages;
# install them once if missing.
browser:
	@(test -x $(CHROMIUM) && test -d /usr/share/fonts/truetype/wqy) || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null)

lint: install
	$(BIN)/ruff check engine web tests benchmarks

types: install
	$(BIN)/mypy engine

db: install
	$(BIN)/flowdesk init-db

deploy: db
	$(BIN)/flowdesk deploy processes

bench: install
	$(BIN)/python benchmarks/engine_throughput.py

clean:
	rm -rf $(VENV) node_modules $(VENDOR) var .pytest_cache .mypy_cache .ruff_cache
