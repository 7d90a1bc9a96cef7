# sideman: `make run` serves, `make test` tests. Both create .venv and install as needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-packages
# portaudio19-dev: headers to build PyAudio, which tinysoundfont requires (sideman never plays audio);
# fluid-soundfont-gm: FluidR3_GM (MIT), the General MIDI font sideman renders with;
# avldrums.lv2-soundfont: the AVL Drumkits (CC-BY-SA-3.0), sampled acoustic kits with
# velocity layers (optional: without them the drums play from FluidR3, and a warning says so).
DEBIAN_PACKAGES := portaudio19-dev fluid-soundfont-gm avldrums.lv2-soundfont chromium

.PHONY: run test install bench eval lint clean scale

run: $(STAMP)
	$(BIN)/sideman serve

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

EVAL_DIRS ?= ../shared/eval/dev ../shared/eval/real ../shared/eval/real-sung
eval: $(STAMP)
	@for d in $(EVAL_DIRS); do echo "== $$d"; $(BIN)/sideman eval $$d || exit 1; done
	@echo "== ../shared/eval/dev (arrangement)"; $(BIN)/sideman eval --arrangement ../shared/eval/dev
	@echo "== ../shared/eval/dev (mix), beside the real stems of ../shared/eval/real/nc"; \
	  $(BIN)/sideman eval --mix ../shared/eval/dev --reference ../shared/eval/real/nc

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

install: $(STAMP)

$(SYSTEM_STAMP): Makefile
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "sideman needs Python 3.11 or newer"; exit 1; }
	@$(PYTHON) -m venv $(VENV)
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  fi; \
	elif [ ! -e /usr/include/portaudio.h ]; then \
	  echo "note: install portaudio headers (Debian: portaudio19-dev) and fluid-soundfont-gm as root;"; \
	  echo "      without FluidR3 sideman renders with the small TimGM6mb font pretty-midi ships"; \
	fi
	@touch $@

$(STAMP): pyproject.toml $(SYSTEM_STAMP)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,scale]'
	@touch $@

# scale-out on this machine: Redis, PostgreSQL, the API and N Dramatiq workers (README "Scale-out")
WORKERS ?= 2
scale: $(STAMP)
	WORKERS=$(WORKERS) BIN=$(BIN) ./scripts/scale.sh

clean:
	rm -rf $(VENV) var .pytest_cache
