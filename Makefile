# The two commands: `make run` and `make test`. Both set everything up first on a fresh
# Debian/Ubuntu machine: the Qt system libraries and the AVR toolchain with simavr (as
# root), then .venv with the project.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Qt's system libraries: what `ldd` on the PyQt6 wheel's platform plugins (xcb, wayland,
# offscreen) and libQt6{Gui,Widgets,XcbQpa,WaylandClient} lists outside Qt, by Debian
# package (the same names on Debian 12 and Ubuntu 22.04/24.04); gui/display.py names the
# one missing when `rig gui` cannot open a window. Xvfb: the real X server of the GUI tests.
QT_LIBS := libegl1 libgl1 libx11-6 libdbus-1-3 libfontconfig1 libfreetype6 libglib2.0-0 \
           libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-glx0 \
           libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render0 \
           libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1 \
           libxcb-xfixes0 libxcb-xkb1 libwayland-client0 libwayland-cursor0 libwayland-egl1 \
           xvfb xauth x11-utils weston
# the lick-port firmware (firmware/): the AVR toolchain, the Arduino core, simavr
AVR_TOOLS := make gcc gcc-avr avr-libc arduino-core-avr libsimavr-dev libsimavrparts1 libelf-dev pkg-config

RUN_ARGS ?= --rig hardware_configs/sim.yaml --protocol protocols/continual_learning.yaml \
            --subject demo-mouse --trials 500 --data-dir data

.PHONY: run test lint types firmware unit gui-x11 bench screenshots system-deps clean

# pip -qq: errors only (with -q, recent pips print setuptools' note on editable installs)
$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e '.[gui,scope,nwb,report,dev]'
	touch $(STAMP)

# Qt's system libraries, the AVR toolchain (and python3-venv where Python lacks venv);
# only as root on a Debian/Ubuntu machine, only when missing.
system-deps:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  missing=""; for p in $(QT_LIBS) $(AVR_TOOLS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  fi; \
	else echo "not root or no apt-get: skipping the system packages"; fi

# With a display, the GUI (it starts the simulated rig's controller); without one, a
# headless simulated session.
GUI_ARGS ?= --rig hardware_configs/sim.yaml --data-dir data

run: $(STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] && $(BIN)/python -c 'import gui.app' 2>/dev/null; then \
	  $(BIN)/rig gui $(GUI_ARGS); \
	else \
	  $(BIN)/rig run $(RUN_ARGS); \
	fi

test: $(STAMP) lint types firmware unit gui-x11

lint: $(STAMP)
	$(BIN)/ruff check rig gui tests bench
	$(BIN)/ruff format --check rig gui tests bench

types: $(STAMP)
	$(BIN)/mypy --strict rig

# The lick-port firmware for the Uno and the Mega (with flash and RAM use), the portable
# core's unit tests (gcc) and the simulated board.
firmware: system-deps
	$(MAKE) --no-print-directory -C firmware

unit: $(STAMP) firmware
	$(BIN)/python -m pytest

# The GUI tests that matter again on a real X server (Xvfb, the xcb platform): the daily
# flow, closing and coming back, the calibration steps, `rig gui` itself, the screenshots.
# (tests/gui/test_real_display.py runs `make run`'s display branch in the first pass.)
GUI_X11_TESTS := tests/gui/test_qt_platform.py tests/gui/test_daily_flow.py tests/gui/test_close_and_attach.py \
                 tests/gui/test_rig_gui.py tests/gui/test_one_controller.py \
                 tests/gui/test_calibration_dialog.py tests/gui/test_screenshots.py
gui-x11: $(STAMP)
	QT_QPA_PLATFORM=xcb xvfb-run --auto-servernum --server-args='-screen 0 1600x1000x24' \
	  $(BIN)/python -m pytest $(GUI_X11_TESTS)

bench: $(STAMP)
	$(BIN)/python -m bench

# The GUI's screens, on a real X server (Xvfb, the xcb platform), read back from it.
screenshots: $(STAMP)
	QT_QPA_PLATFORM=xcb xvfb-run --auto-servernum --server-args='-screen 0 1600x1000x24' \
	  $(BIN)/python -m gui.screenshots docs/screenshots

clean:
	rm -rf $(VENV) data bench/out firmware/build
