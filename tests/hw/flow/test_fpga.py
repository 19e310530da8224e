"""The FPGA build (skyspike_hw.flow.fpga, ``make fpga``): the clock picked from the timing
report, the report's figures, the loader's errors, and the build of the small configuration
for the ULX3S 85F with the PyPI tools (YoWASP Yosys and nextpnr-ecp5, amaranth-boards), which
is skipped with the reason when they are missing. ``make fpga FPGA_CONFIG=chip`` builds the
chip configuration by command (long)."""
from __future__ import annotations

import json
import re

import pytest

from simrun import BUILD as TESTS_BUILD
from skyspike_hw.flow import fpga


def test_pick_clock_stays_below_fmax():
    for f_osc in (25.0, 100.0):
        for fmax in (31.7, 48.2, 55.0, 77.3):
            f = fpga.pick_clock(f_osc, fmax)
            # the PLL steps by at most f_in / 8 where the phase detector allows no finer divider
            assert fmax * fpga.FMAX_DERATE - 25 / 8 <= f <= fmax * fpga.FMAX_DERATE


def testnextpnr_report(tmp_path):
    rep = {"utilization": {"TRELLIS_COMB": {"used": 100, "available": 83640}, "TRELLIS_FF": {"used": 50, "available": 83640},
                           "DP16KD": {"used": 20, "available": 208}},
           "fmax": {"$glbnet$clk": {"achieved": 51.234, "constraint": 40.0}}}
    (tmp_path / "r.json").write_text(json.dumps(rep))
    got = fpga.nextpnr_report(tmp_path / "r.json")
    assert got == {"fmax_mhz": 51.23, "luts": (100, 83640), "ffs": (50, 83640), "brams": (20, 208), "dsps": (0, 0)}


def test_program_without_a_build_says_so(tmp_path, capsys):
    assert fpga.main(["--program", "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run make fpga first" in err[0]


def test_bad_board_is_one_clear_error(capsys):
    with pytest.raises(SystemExit) as exc:
        fpga.main(["--board", "nexys"])
    assert exc.value.code == 2 and "invalid choice: 'nexys'" in capsys.readouterr().err


@pytest.mark.slow
def test_make_fpga_small_ulx3s():
    """What ``make fpga FAST=1 CLOCK_MHZ=32`` runs (one pass; placement not timing-driven, half
    nextpnr's time, ~37 MHz fmax): a bitstream named with its clock, its metadata, the report,
    nextpnr's timing report."""
    pytest.importorskip("amaranth_boards", reason="amaranth-boards is not installed (pip install -e '.[fpga]')")
    try:
        fpga.find_tools()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    out = TESTS_BUILD / "fpga"
    clock = 32.0
    assert fpga.main(["--config", "small", "--board", "ulx3s-85f", "--clock-mhz", str(clock), "--fast",
                      "-o", str(out)]) == 0
    report = json.loads((out / "ulx3s-85f" / "small" / "report.json").read_text())
    bit = out / "ulx3s-85f" / "small" / f"skyspike_small_ulx3s-85f_{report['clock_mhz']:g}MHz.bit"
    assert bit.stat().st_size > 100_000 and report["bitstream"] == str(bit)
    meta = json.loads(bit.with_suffix(".json").read_text())
    assert meta["timing_met"] and meta["fmax_mhz"] >= meta["clock_mhz"] == pytest.approx(clock, rel=0.02)
    assert meta["luts"][0] > 1000 and meta["ffs"][0] > 1000 and meta["brams"][0] >= 9
    assert meta["uart_baud"] == 115200 and len(meta["firmware_sha256"]) == 64
    assert meta["nextpnr_placement"] == "not timing-driven (--fast)"
    tim = (out / "ulx3s-85f" / "small" / "pass1" / "top.tim").read_text()
    assert re.search(r"Max frequency for clock .*: [\d.]+ MHz", tim)
    assert "timing met" in (out / "ulx3s-85f" / "small" / "report.txt").read_text()


def test_overflow_names_what_does_not_fit(tmp_path):
    tim = tmp_path / "top.tim"
    tim.write_text("Info: Device utilisation:\nInfo: \t          DP16KD:      21/    208    10%\n"
                   "Info: \t    TRELLIS_COMB:  100000/  83640   119%\n")
    assert fpga.overflow(tim) == "TRELLIS_COMB 100000/83640 (120%, 16360 over)"
    assert fpga.overflow(tmp_path / "none.tim") == ""


def test_clock_search_follows_the_timing_report(tmp_path, monkeypatch):
    """Missed at the starting clock: a second pass at the PLL's highest clock within
    FMAX_DERATE of that fmax, which meets it and names the bitstream; met within RAISE_MARGIN:
    one pass."""
    pytest.importorskip("amaranth_boards", reason="amaranth-boards is not installed (pip install -e '.[fpga]')")
    fmax_of = {40.0: 37.0}
    calls = []

    def fake_pass(board, config, firmware, clock, build_dir, env, fast=False):
        calls.append(clock)
        build_dir.mkdir(parents=True)
        (build_dir / "top.bit").write_bytes(b"bit")
        return fpga.PassResult(clock_mhz=clock, fmax_mhz=fmax_of.get(clock, clock + 1), luts=(1, 2), ffs=(1, 2),
                               brams=(1, 2), dsps=(0, 2), seconds=1.0, build_dir=str(build_dir))

    monkeypatch.setattr(fpga, "build_pass", fake_pass)
    monkeypatch.setattr(fpga, "find_tools", lambda: {})
    report = fpga.run("small", "ulx3s-85f", out=tmp_path, firmware=[0x6F], progress=lambda msg: None)
    assert calls == [40.0, fpga.pick_clock(25.0, 37.0)] and report["timing_met"]
    assert report["bitstream"].endswith(f"skyspike_small_ulx3s-85f_{calls[1]:g}MHz.bit")
    calls.clear()
    fmax_of[40.0] = 44.0   # met, less than RAISE_MARGIN above: that clock stands
    report = fpga.run("small", "ulx3s-85f", out=tmp_path / "again", firmware=[0x6F], progress=lambda msg: None)
    assert calls == [40.0] and report["clock_mhz"] == 40.0


@pytest.mark.parametrize("mhz,word", [("0", "positive frequency"), ("900", "PLL output frequency")])
def test_bad_clock_is_one_clear_error(mhz, word, capsys, monkeypatch):
    pytest.importorskip("amaranth_boards", reason="amaranth-boards is not installed (pip install -e '.[fpga]')")
    monkeypatch.setattr(fpga, "find_tools", lambda: {})
    assert fpga.main(["--clock-mhz", mhz, "--firmware", "/dev/null", "-o", "/nonexistent-skyspike"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and word in err[0], err
