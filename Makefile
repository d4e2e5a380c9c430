# `make report` builds everything from a fresh clone; `make test` runs the test suite.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Offline copy of MNIST: use ../shared/mnist when MNIST_DIR is not set and that folder exists.
ifeq ($(MNIST_DIR),)
ifneq ($(wildcard ../shared/mnist/train-images-idx3-ubyte.gz),)
export MNIST_DIR := $(abspath ../shared/mnist)
endif
endif

# The task scripts are independent: `make figures` runs as many at once as there are cores,
# each with one BLAS thread: two scripts with two BLAS threads each on two cores slow each
# other down twenty times over (tasks 3 and 4 side by side: 239 s, against 11 s with one
# thread each). One thread costs a script that runs alone about a fifth of its speed.
JOBS := $(shell nproc 2>/dev/null || echo 1)
TASK := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python

# What every task script runs on; a change to any of it re-runs the scripts.
CORE := dataloaders.py mnist_files.py trainer.py experiment.py utils.py plots.py \
	logistic_regression.py softmax_regression.py $(STAMP)
# Where the scripts write results (the environment variable RESULTS_DIR moves them).
RESULTS_DIR ?= results
# Longest first, so that the scripts running side by side finish at about the same time.
RESULTS := $(addprefix $(RESULTS_DIR)/,task5_search.json task4.json task3.json task5.json \
	task2.json)
TEX_PACKAGES := texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc

.PHONY: report figures notebook git-filter test lint tex clean

# The report is rebuilt every time (the notebook executes in about 15 s); the task scripts
# run only when their results are missing or older than their code.
report: figures tex
	$(BIN)/python build_report.py

# A task whose outputs are missing, incomplete or inconsistent (an interrupted run, a figure
# deleted by hand) runs again, as does one whose results are older than its code.
figures: $(STAMP)
	@$(BIN)/python check_outputs.py --mark-stale
	@$(MAKE) --no-print-directory --jobs=$(JOBS) --output-sync=target $(RESULTS)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	@$(MAKE) --no-print-directory git-filter
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

$(RESULTS_DIR)/task2.json: task2.py $(CORE)
	$(TASK) task2.py
$(RESULTS_DIR)/task3.json: task3.py $(CORE)
	$(TASK) task3.py
$(RESULTS_DIR)/task4.json: task4.py task3.py $(CORE)
	$(TASK) task4.py
$(RESULTS_DIR)/task5.json: task5.py task5_figures.py two_layer_network.py $(CORE)
	$(TASK) task5.py
# The hyperparameter search of task 5 (about a minute): run once, then only when the code changes.
$(RESULTS_DIR)/task5_search.json: task5.py task5_figures.py two_layer_network.py $(CORE)
	$(TASK) task5.py --search

# xelatex and pandoc for the PDF: installed with apt-get when missing and run as root.
tex:
	@if command -v xelatex >/dev/null && command -v pandoc >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEX_PACKAGES); \
	else \
		echo "xelatex or pandoc is missing; install them with: sudo apt-get install $(TEX_PACKAGES)"; \
	fi

test: $(STAMP) tex
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf figures results report.pdf report.html
