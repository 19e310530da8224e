"""Verilator coverage files (skyspike.rtlsim.linecov) and the coverage report
(skyspike.apps.coverage) on small synthetic inputs."""
from __future__ import annotations

import json

from skyspike.apps import coverage as report
from skyspike.chip.coverage import bins
from skyspike.rtlsim.linecov import merge, parse
from skyspike.spec.config import CONFIGS


def point(file: str, line: int, page: str, comment: str = "") -> str:
    return "\x01".join(f"{k}\x02{v}" for k, v in (("f", file), ("l", line), ("page", page), ("o", comment)))


def write_dat(path, counts):
    path.write_text("# SystemC::Coverage-3\n" + "".join(f"C '{p}' {n}\n" for p, n in counts.items()))


def test_merge_adds_runs_and_keeps_one_file(tmp_path):
    a, b = point("/x/skyspike_core.v", 3, "v_line/top"), point("/x/skyspike_core.v", 4, "v_branch/top")
    other = point("/x/other.v", 1, "v_line/top")
    write_dat(tmp_path / "1.dat", {a: 0, b: 2, other: 0})
    write_dat(tmp_path / "2.dat", {a: 5, b: 0})
    assert parse(tmp_path / "1.dat")[a] == 0
    kinds = merge([tmp_path / "1.dat", tmp_path / "2.dat"], "skyspike_core.v")
    assert (kinds["line"].hit, kinds["line"].total, kinds["branch"].hit) == (1, 1, 1)


def test_pmux_default_arms_are_recognised():
    lines = ["    casez (s) // synopsys parallel_case", "      2'b?1:", "        y = a;", "      default:",
             "        y = b;", "    endcase", "    case (q)", "      default:"]
    assert report.pmux_default(lines, 4) and not report.pmux_default(lines, 8) and not report.pmux_default(lines, 2)


def test_report_passes_only_with_every_bin_and_enough_lines(tmp_path, capsys):
    cfg = CONFIGS["small"]
    verilog = tmp_path / "skyspike_core.v"
    verilog.write_text("module m;\nassign a = b;\nassign c = d;\nendmodule\n")
    write_dat(tmp_path / "run.dat", {point(str(verilog), 2, "v_line/m"): 1, point(str(verilog), 3, "v_line/m"): 1})
    (tmp_path / "run.json").write_text(json.dumps({name: 1 for name in bins(cfg)}))
    assert report.report(tmp_path, "small", 95.0) == 0
    (tmp_path / "run.json").write_text(json.dumps({bins(cfg)[0]: 1}))
    assert report.report(tmp_path, "small", 95.0) == 1
    assert "not hit" in capsys.readouterr().out
