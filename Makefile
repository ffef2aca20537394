# CNN Studio: `make run` opens the app, `make test` runs the whole suite headless.
# Both create .venv on first use and install the package into it.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# Where `make install-user` links the `cnnstudio` command: the per-user folder Debian, Ubuntu and Fedora
# put on PATH (pip --user and pipx install there too).
BINDIR ?= $(HOME)/.local/bin

.PHONY: run test lint install install-user uninstall-user dev benchmarks gpu-check-data screenshots package package-check package-verify icons clean help

help:
	@echo "make run          create .venv if missing, install CNN Studio, open the app"
	@echo "make test         install the test extras and run the whole suite headless"
	@echo "make lint         ruff (the rules in pyproject.toml) and mypy (strict on cnnstudio/core)"
	@echo "make install-user put the \`cnnstudio\` command on your PATH (a link in ~/.local/bin to .venv's)"
	@echo "make benchmarks   run the benchmark scripts (slow; results go to docs/benchmarks.md)"
	@echo "make gpu-check-data  copy Fashion-MNIST into benchmarks/data/ for benchmarks/gpu_check.sh (no network there)"
	@echo "make screenshots  render every page to docs/images/ (1280x820, 1024x700, 1600x1000)"
	@echo "make package      freeze the app (PyInstaller) and build the installers into dist/ (slow, GBs)"
	@echo "make package-check  self-test the frozen app from outside the tree, then dpkg -i the .deb and"
	@echo "                  self-test the installed cnnstudio (Linux, root)"
	@echo "make package-verify  check dist/cnnstudio holds every compiled file of the installed packages"
	@echo "make icons        draw the app icon into resources/ (PNG sizes, .ico, .icns)"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "CNN Studio needs Python >= 3.10")'
	$(PYTHON) -m venv $(VENV)

# torch and torchvision are installed together so pip picks a matched pair from the index.
# --no-cache-dir: the CUDA build is ~6 GB installed; keeping a second copy of its wheels in pip's
# cache doubles the disk it needs, which is what a full CI disk runs out of first.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --upgrade pip
	$(PIP) install --no-cache-dir torch torchvision
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -e ".[test]"
	@touch $@

$(VENV)/.installed-lint: $(VENV)/.installed
	$(PIP) install -e ".[lint]"
	@touch $@

# The bundle is built from the versions pinned in packaging/constraints.txt (torch, torchvision, Qt, the
# CUDA libraries, PyInstaller...), whatever the index serves that day: pip moves .venv to them here, and
# packaging/build.py refuses to freeze an environment that differs. A bump is an edit of that file.
$(VENV)/.installed-package: $(VENV)/.installed packaging/constraints.txt
	$(PIP) install --no-cache-dir -c packaging/constraints.txt torch torchvision -e ".[package]"
	@touch $@

install: $(VENV)/.installed

# `make run` installs CNN Studio into .venv, whose bin/ is not on PATH: this links the command into
# BINDIR, the way pipx does, so `cnnstudio ...` works in every shell. The link points into this
# checkout's .venv: `make uninstall-user` removes it (only if it is ours).
install-user: $(VENV)/.installed
	@mkdir -p "$(BINDIR)"
	@if [ -e "$(BINDIR)/cnnstudio" -o -L "$(BINDIR)/cnnstudio" ] && \
	    [ "$$(readlink "$(BINDIR)/cnnstudio")" != "$(abspath $(VENV))/bin/cnnstudio" ]; then \
	  echo "$(BINDIR)/cnnstudio exists and is not a link to this checkout's .venv: left alone (remove it first to replace it)" >&2; \
	  exit 1; fi
	@ln -sfn "$(abspath $(VENV))/bin/cnnstudio" "$(BINDIR)/cnnstudio"
	@echo "linked $(BINDIR)/cnnstudio -> $(abspath $(VENV))/bin/cnnstudio"
	@case ":$$PATH:" in *":$(BINDIR):"*) echo "cnnstudio is on your PATH: try  cnnstudio --help" ;; \
	  *) echo "$(BINDIR) is not on your PATH yet: open a new login shell, or add this line to ~/.profile:"; \
	     echo '    export PATH="$(BINDIR):$$PATH"' ;; esac

uninstall-user:
	@if [ "$$(readlink "$(BINDIR)/cnnstudio")" = "$(abspath $(VENV))/bin/cnnstudio" ]; then \
	  rm "$(BINDIR)/cnnstudio" && echo "removed $(BINDIR)/cnnstudio"; \
	else echo "$(BINDIR)/cnnstudio is not a link to this checkout's .venv: left alone"; fi

run: $(VENV)/.installed
	$(PY) -m cnnstudio

# The Qt tests share one process again. A long single process of them died of a segmentation fault at
# random points (2026-12-01): Python's cyclic GC, run on a task or training thread, freed Qt objects held in
# reference cycles there, and the GUI thread then delivered a timer event to a deleted window. The app and
# tests/ui/conftest.py now free them on the GUI thread only (cnnstudio/ui/gui_gc.py; the reproduction is
# scripts/gc_thread_crash.py). One process also trains the shared checkpoint once instead of once a module.
#
# The two halves run at the same time, and the non-Qt half in two worker processes (pytest-xdist, a test
# file to a worker): alone, one process kept about 1.3 of 2 cores busy (subprocesses starting, files
# written, small models). On 2026-12-08 (9cc7b00, a 2-core AVX2-only EPYC shared with an installer check
# for the first half of the run) the non-Qt half took 22 min and the Qt half 10.5 min beside it; the
# split is not yet timed against one process on a quiet machine. The Qt half's output is shown when it
# ends; the exit status is non-zero when either half fails.
test: $(VENV)/.installed-test
	@log=$$(mktemp); \
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider tests/ui > $$log 2>&1 & ui=$$!; \
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -n 2 --dist loadfile --ignore=tests/ui; core=$$?; \
	wait $$ui; qt=$$?; echo "--- tests/ui (run beside the rest) ---"; cat $$log; rm -f $$log; \
	test $$core -eq 0 -a $$qt -eq 0

# ruff and mypy read their settings from pyproject.toml. mypy checks cnnstudio/ with torch's, numpy's and
# Qt's own type information, so it needs the installed packages (the first run builds .mypy_cache).
lint: $(VENV)/.installed-lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# benchmarks/gpu_check.sh runs where there is a GPU and no network: the data travels with the tree.
gpu-check-data:
	mkdir -p benchmarks/data/fashion-mnist
	cp /usr/share/datasets/fashion-mnist/*-ubyte.gz benchmarks/data/fashion-mnist/

benchmarks: $(VENV)/.installed
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/inspection_speed.py
	$(PY) benchmarks/draw_latency.py
	$(PY) benchmarks/ui_responsiveness.py

screenshots: $(VENV)/.installed
	QT_QPA_PLATFORM=offscreen $(PY) scripts/screenshots.py
	QT_QPA_PLATFORM=offscreen $(PY) scripts/screenshots.py --size 1024x700 --out docs/images/1024x700
	QT_QPA_PLATFORM=offscreen $(PY) scripts/screenshots.py --size 1600x1000 --out docs/images/1600x1000
	QT_QPA_PLATFORM=offscreen $(PY) scripts/camera_screenshot.py
	QT_QPA_PLATFORM=offscreen $(PY) scripts/camera_screenshot.py --size 1024x700 --out docs/images/1024x700
	QT_QPA_PLATFORM=offscreen $(PY) scripts/camera_screenshot.py --size 1600x1000 --out docs/images/1600x1000

# Not part of `make test` (CI does not run it by default): it takes minutes and several GB of disk.
package: $(VENV)/.installed-package
	$(PY) packaging/build.py all

package-check: $(VENV)/.installed-package
	$(PY) packaging/build.py check

# Checks a built bundle (default dist/cnnstudio) against the installed packages' compiled files, in seconds.
package-verify: $(VENV)/.installed-package
	$(PY) packaging/build.py verify

icons: $(VENV)/.installed
	$(PY) -m cnnstudio.icon resources

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
