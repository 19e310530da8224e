"""The chip top (skyspike_hw.chiptop): OpenFrame's port list, the SoC inside with its macros,
the pins of skyspike_hw.pins. Its behaviour is tested at gate level
(tests/hw/flow/test_chip_gls.py: boot, IDENTIFY and an inference over the UART pads)."""
from __future__ import annotations

import re

from skyspike_hw.chiptop import INOUT_PORTS, TOP_NAME, OpenFrameTop, openframe_signature
from skyspike_hw.gen import rtlil_text

OPENFRAME_PORTS = {
    "porb_h", "porb_l", "por_l", "resetb_h", "resetb_l", "mask_rev", "gpio_in", "gpio_in_h",
    "gpio_out", "gpio_oeb", "gpio_inp_dis", "gpio_ib_mode_sel", "gpio_vtrip_sel", "gpio_slow_sel",
    "gpio_holdover", "gpio_analog_en", "gpio_analog_sel", "gpio_analog_pol", "gpio_dm2", "gpio_dm1",
    "gpio_dm0", "gpio_loopback_one", "gpio_loopback_zero",
}


def test_openframe_port_list():
    sig = openframe_signature()
    assert set(sig.members) == OPENFRAME_PORTS
    assert all(sig.members[n].shape == 44 for n in OPENFRAME_PORTS if n.startswith("gpio"))
    assert sig.members["mask_rev"].shape == 32
    assert TOP_NAME == "openframe_project_wrapper" and dict(INOUT_PORTS) == {"analog_io": 44, "analog_noesd_io": 44}


def test_chip_top_elaborates_with_its_macros():
    text = rtlil_text(OpenFrameTop("small", firmware=[0x0000006F], sim_model=False), TOP_NAME)
    assert re.search(rf"^module \\{TOP_NAME}$", text, re.M)
    macros = re.findall(r"^\s*cell \\(sky130_sram_\w+) ", text, re.M)
    assert macros.count("sky130_sram_1kbyte_1rw1r_32x256_8") == 4 + 4 + 1     # small: banks, inputs, CPU RAM
    assert "picorv32_wb" in text
