"""openlane/config.json against OpenLane 2's own variable definitions (the `openlane` package
in .venv-openlane, see the Makefile), on the design folder `make gds` stages; and `make gds`
where OpenLane cannot run."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from flowrun import REPO, pdk
from skyspike.spec.config import SRAM_MACROS, get_config
from skyspike_hw.flow import gds
from skyspike_hw.flow.synth import macro_instances

OL_PYTHON = REPO / ".venv-openlane" / "bin" / "python"
CHECKER = REPO / "hw" / "skyspike_hw" / "flow" / "olcheck.py"


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    return gds.stage(tmp_path_factory.mktemp("openlane"), "chip")


@pytest.fixture(scope="module")
def pdk_root(tmp_path_factory):
    """The test PDK as a full installation would lay it out: ../shared/pdk lacks the SRAM
    macros' GDS (its README says so), so empty stand-ins take their place."""
    src = pdk().path / "libs.ref"
    root = tmp_path_factory.mktemp("pdk")
    for lib in src.iterdir():
        for view in lib.iterdir():
            (root / "sky130A" / "libs.ref" / lib.name).mkdir(parents=True, exist_ok=True)
            (root / "sky130A" / "libs.ref" / lib.name / view.name).symlink_to(view)
    gds_dir = root / "sky130A" / "libs.ref" / "sky130_sram_macros" / "gds"
    if not gds_dir.exists():
        gds_dir.mkdir()
        for macro in SRAM_MACROS.values():
            (gds_dir / f"{macro.name}.gds").touch()
    return root


def check(config: Path, pdk_root: Path) -> subprocess.CompletedProcess:
    if not OL_PYTHON.is_file():
        pytest.fail(f"{OL_PYTHON} missing: `make setup` creates it")
    return subprocess.run([str(OL_PYTHON), str(CHECKER), str(config), "--pdk-root", str(pdk_root)],
                          capture_output=True, text=True, cwd=config.parent, timeout=300)


def test_config_is_valid_for_openlane(staged, pdk_root):
    result = check(staged, pdk_root)
    assert result.returncode == 0, result.stdout + result.stderr
    n = int(re.search(r"against (\d+) variables", result.stdout).group(1))
    assert n > 250  # the whole Classic flow: options, PDK/SCL and every step's variables


@pytest.mark.parametrize("mutation", [
    ("unknown variable", lambda c: c.update(CLOCK_PERIODE=20)),
    ("wrong type", lambda c: c.update(CLOCK_PERIOD="fast")),
    ("wrong type (bool)", lambda c: c.update(RUN_CTS="yes")),
    ("missing required", lambda c: c.pop("DESIGN_NAME")),
    ("bad macro instance", lambda c: c["MACROS"]["sky130_sram_2kbyte_1rw1r_32x512_8"]["instances"]
     ["wbank0_macro"].update(rotation="N")),
    ("missing file", lambda c: c.update(FP_PIN_ORDER_CFG="dir::nope.cfg")),
], ids=lambda m: m[0])
def test_invalid_configs_fail(staged, pdk_root, mutation):
    config = json.loads(staged.read_text())
    mutation[1](config)
    bad = staged.parent / "bad.json"
    bad.write_text(json.dumps(config))
    result = check(bad, pdk_root)
    assert result.returncode == 1 and "error:" in result.stdout, result.stdout + result.stderr


def test_macro_placement_matches_the_chip(staged):
    """Every SRAM instance of the chip netlist is placed, with its macro's size, inside the die,
    without overlaps; the staged Verilog instantiates exactly those."""
    config = json.loads(staged.read_text())
    x0, y0, x1, y1 = config["DIE_AREA"]
    placed = {}
    for macro, spec in config["MACROS"].items():
        w, h = (float(v) for v in re.search(r"SIZE ([\d.]+) BY ([\d.]+)",
                                             (pdk().sram(macro).lef).read_text()).groups())
        for inst, where in spec["instances"].items():
            x, y = where["location"]
            placed[inst] = (macro, (x, y, x + w, y + h))
            assert x0 <= x and y0 <= y and x + w <= x1 and y + h <= y1, inst
    assert {i: m for i, (m, _) in placed.items()} == macro_instances("chip")
    boxes = [box for _, box in placed.values()]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    verilog = (staged.parent / "src" / "skyspike_core_syn.v").read_text()
    found = dict((i, m) for m, i in re.findall(r"^\s*(sky130_sram_\w+) (\w+) \(", verilog, re.M))
    assert found == macro_instances("chip")
    cfg = get_config("chip")
    assert len(found) == cfg.banks + cfg.input_banks


def test_gds_without_openlane_fails_clearly(monkeypatch, tmp_path, capsys):
    if gds.shutil.which("openroad") or gds.docker_works():
        pytest.skip("OpenLane can run here")
    monkeypatch.setattr(gds, "stage", lambda out, config: tmp_path / "config.json")
    assert gds.main(["-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "OpenLane 2 cannot run" in err and "Docker" in err and "Nix" in err


def test_gds_refuses_a_subset_pdk(monkeypatch):
    monkeypatch.setenv("PDK_ROOT", str(pdk().root))
    if (pdk().path / "libs.tech" / "openlane").is_dir():
        pytest.skip("a full PDK")
    with pytest.raises(gds.OpenLaneMissing, match="not a full sky130A"):
        gds.pdk_args()
    assert os.environ["PDK_ROOT"]
