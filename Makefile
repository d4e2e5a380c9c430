# `make report` builds everything from a fresh clone; `make test` runs the fast tests,
# `make test-slow` the slow end-to-end ones (full training, the browser, the PDF builds).
# Each sets up what it needs first; reporting/make_report.py does the rest, the same on every
# platform (README: set-up without make).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What a student needs (tasks, report, JupyterLab), and what the tests need besides.
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

# Offline copy of MNIST: use ../shared/mnist when MNIST_DIR is not set and that folder exists.
ifeq ($(MNIST_DIR),)
ifneq ($(wildcard ../shared/mnist/train-images-idx3-ubyte.gz),)
export MNIST_DIR := $(abspath ../shared/mnist)
endif
endif

TEX_PACKAGES := texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc
# The browser test drives Debian's Chromium through chromedriver; the PDF tests read the PDF
# with pdftotext. The fast tests need pandoc alone (the LaTeX export's Markdown, without TeX).
TEST_PACKAGES := chromium chromium-driver poppler-utils
PANDOC_PACKAGES := pandoc

.PHONY: report figures notebook git-filter test test-slow check-claims lint tex pandoc test-tools \
	clean

# The task scripts whose outputs are missing, incomplete, inconsistent or older than their code
# run again (as many at once as there are cores, one BLAS thread each), then the report is
# built (the notebook executes in about 15 s).
report: $(STAMP) tex
	$(BIN)/python -m reporting.make_report

# Only the stale task scripts.
figures: $(STAMP)
	$(BIN)/python -m reporting.make_report --tasks-only

# The Python version is checked before anything is installed: one line if it is too old. The
# project's own editable install (requirements.txt's `-e .`) copies reporting/jupyter_config/ into
# the environment's Jupyter configuration: a change there or in pyproject.toml installs again.
$(STAMP): requirements.txt $(wildcard pyproject.toml reporting/jupyter_config/*)
	@$(PYTHON) support/require_python.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@$(MAKE) --no-print-directory git-filter
	touch $@

$(DEV_STAMP): requirements-dev.txt $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# Notebooks are committed without outputs: .gitattributes sends *.ipynb through the nbstripout
# filter, defined here for this clone. The command is relative because git runs filters from the
# top of the work tree, so each work tree of a repository uses its own .venv. Cell ids are kept
# (stable diffs); jupyterlab-myst's {eval} results (cell metadata) are dropped. Outside a git
# work tree this does nothing.
NBSTRIPOUT := $(BIN)/python -m nbstripout --keep-id
git-filter:
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git config filter.nbstripout.clean '$(NBSTRIPOUT)' && \
		git config filter.nbstripout.smudge cat && \
		git config filter.nbstripout.extrakeys cell.metadata.user_expressions && \
		git config diff.ipynb.textconv '$(NBSTRIPOUT) --textconv' && \
		echo "git: notebooks are stripped of outputs on commit (nbstripout filter)"; \
	fi

# JupyterLab on the report, with the MyST renderer; --allow-root only when running as root.
notebook: $(STAMP)
	$(BIN)/jupyter lab report.ipynb $(if $(filter 0,$(shell id -u)),--allow-root)

# Programs from the system, installed with apt-get when missing and make runs as root;
# otherwise one line names them. xelatex and pandoc make the PDF (the slow tests need them too,
# the fast ones pandoc); Chromium, chromedriver and pdftotext are for the slow tests.
TEX_FOUND := command -v xelatex && command -v pandoc
TEX_MISSING := xelatex or pandoc (for the PDF)
PANDOC_FOUND := command -v pandoc
PANDOC_MISSING := pandoc (for the tests)
TEST_FOUND := { command -v chromium || command -v chromium-browser; } && command -v chromedriver \
	&& command -v pdftotext
TEST_MISSING := Chromium or chromedriver or pdftotext (for the slow tests)
define install_or_name
	@if { $($(1)_FOUND); } >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $($(1)_PACKAGES); \
	else \
		echo "$($(1)_MISSING) is missing; install with: sudo apt-get install $($(1)_PACKAGES) (other systems: docs/setup.md)"; \
	fi
endef

tex:
	$(call install_or_name,TEX)

pandoc:
	$(call install_or_name,PANDOC)

test-tools:
	$(call install_or_name,TEST)

# pytest on the tests that the marker expression $(1) selects, with the options $(2). Its exit
# status 5 (no test selected) would let a run that tested nothing pass unnoticed, or fail without
# a word: it fails with one line that says why.
define pytest_marked
	@echo '$(BIN)/python -m pytest -m "$(1)" $(2)'
	@$(BIN)/python -m pytest -m "$(1)" $(2) || status=$$?; \
	if [ "$${status:-0}" = 5 ]; then \
		echo "make $@: no test is selected by -m \"$(1)\" (see the markers in pyproject.toml)"; \
		exit 1; \
	fi; \
	exit $${status:-0}
endef

# The fast tests: every module's own tests and the --quick runs, without TeX or a browser.
# The fast tests run on every core (pytest-xdist's -n auto): about 1.6 times as fast on two.
test: $(DEV_STAMP) pandoc
	$(call pytest_marked,not slow,-n auto)

# The slow end-to-end tests (pyproject.toml's `slow` marker): every task trained in full, the
# notebook in JupyterLab in Chromium, the PDF builds. CI runs them after `make test`.
test-slow: $(DEV_STAMP) tex test-tools
	$(call pytest_marked,slow)

# Every statement of the model answer, checked on the full runs repeated under two other
# OpenBLAS kernels and with other seeds (reporting/check_claims.py). CI runs it after the tests.
check-claims: $(DEV_STAMP)
	$(BIN)/python -m reporting.check_claims --rerun

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf figures results report.pdf report.html
