"""Test-side helpers of the silicon flow (skyspike_hw.flow): the PDK the tests use and the
small configuration synthesized once per change of the hardware or the flow, shared by
pytest-xdist workers through a lock (build/tests/synth/small)."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path

import pytest

from skyspike_hw.flow import synth
from skyspike_hw.flow.pdk import PDKNotFound, Sky130

REPO = Path(__file__).resolve().parents[3]
BUILD = REPO / "build" / "tests" / "synth"
#: The subset of sky130A beside a development checkout (`make test` points PDK_ROOT at it).
SHARED_PDK = REPO.parent / "shared" / "pdk"


def pdk() -> Sky130:
    """The PDK: $PDK_ROOT, else ../shared/pdk. Without one the test is skipped, except in CI."""
    root = os.environ.get("PDK_ROOT") or (SHARED_PDK if SHARED_PDK.is_dir() else None)
    try:
        return Sky130(root)
    except PDKNotFound as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no sky130 PDK: {exc}".splitlines()[0])


def _flow_key(config: str, pdk_: Sky130) -> str:
    h = hashlib.sha256()
    (BUILD / config).mkdir(parents=True, exist_ok=True)
    rtl = synth.write_rtlil(config, BUILD / config)  # the hardware as it is now
    h.update(rtl.read_bytes())
    flow_dir = Path(synth.__file__).parent
    for f in sorted(flow_dir.glob("*.py")) + sorted(flow_dir.glob("*.ys")) + sorted(flow_dir.glob("*.tcl")) \
            + sorted(flow_dir.glob("*.v")):
        h.update(f.read_bytes())
    h.update(synth.SDC.read_bytes())
    h.update(synth.OPENLANE_CONFIG.read_bytes())
    h.update(str(pdk_.liberty.resolve()).encode())
    return h.hexdigest()


def synthesized(config: str = "small") -> dict:
    """The report of ``config`` through :func:`skyspike_hw.flow.synth.run` (cached)."""
    pdk_ = pdk()
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD / f".{config}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        key = _flow_key(config, pdk_)
        stamp, report = BUILD / config / ".key", BUILD / config / "report.json"
        if stamp.is_file() and stamp.read_text() == key and report.is_file():
            return json.loads(report.read_text())
        result = synth.run(config, BUILD, pdk_root=pdk_.root)
        stamp.write_text(key)
        return result


def netlist(config: str = "small") -> Path:
    synthesized(config)
    return BUILD / config / "netlist.v"


def chip_netlist(config: str, firmware: list[int], **soc_args) -> Path:
    """The gate-level netlist of the chip top of ``config`` with ``firmware`` in its boot ROM
    (synthesis only, no STA), cached by the design's RTLIL and the flow's files."""
    pdk_ = pdk()
    design = synth.chip_design(config, firmware, **soc_args)
    out = BUILD / f"chip_{config}"
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD / f".chip_{config}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        out.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256(synth.write_rtlil(None, out, design).read_bytes())
        flow_dir = Path(synth.__file__).parent
        for f in sorted(flow_dir.glob("*.ys")) + [Path(synth.__file__), flow_dir / "clockgate.py"]:
            h.update(f.read_bytes())
        h.update(str(pdk_.liberty.resolve()).encode())
        stamp, netlist_ = out / ".key", out / "netlist.v"
        if not (stamp.is_file() and stamp.read_text() == h.hexdigest() and netlist_.is_file()):
            synth.synthesize(design, out, pdk_, synth.target_period("chip"))
            stamp.write_text(h.hexdigest())
        return netlist_
