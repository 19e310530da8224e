"""Check an OpenLane 2 configuration against OpenLane's own variable definitions.

Runs with the interpreter that has the ``openlane`` package (``.venv-openlane``, see the
Makefile): ``python olcheck.py CONFIG.json --pdk-root ROOT``. Imports nothing of SkySpike.

The variables are those of the flow (default ``Classic``): the universal option, PDK and
standard-cell variables, the flow's own and every step's (``Flow.get_all_config_variables``).
The file is then loaded by OpenLane's ``Config.load``, which checks every value against its
variable's type (paths must exist) and that required variables are present. Variables that
the PDK's ``libs.tech/openlane`` configuration supplies are not required here (a subset PDK
has none), but their values are type-checked where the file sets them.
Exit status 0: valid; 1: invalid (every problem printed); 2: bad arguments.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Optional


def flow_variables(flow: str = "Classic") -> dict:
    """{name: Variable} of every variable the flow knows."""
    from openlane.flows import Flow

    cls = Flow.factory.get(flow)
    if cls is None:
        raise ValueError(f"unknown OpenLane flow {flow!r}")
    return {v.name: v for v in cls.get_all_config_variables(cls)}


def check(config_path: Path, pdk_root: Path, flow: str = "Classic", pdk: str = "sky130A",
          scl: str = "sky130_fd_sc_hd") -> list[str]:
    """Every problem of the configuration file (empty: valid)."""
    from openlane.config import Config
    from openlane.config.config import InvalidConfig

    variables = flow_variables(flow)
    raw = json.loads(Path(config_path).read_text())
    problems = []
    if raw.get("meta", {}).get("version") != 2:
        problems.append("meta.version must be 2 (strict typing)")
    for key in raw:
        if key == "meta" or key.startswith(("pdk::", "scl::")):
            continue
        if key not in variables:
            problems.append(f"unknown variable {key!r} (not a variable of OpenLane's {flow} flow)")
    # PDK variables come from the PDK's own configuration: optional here, still type-checked.
    # typing.Optional, not `X | None`: OpenLane recognises optional types by typing.Union.
    relaxed = [dataclasses.replace(v, type=Optional[v.type]) if v.pdk else v for v in variables.values()]  # noqa: UP045
    # As OpenLane does from --pdk/--scl (or the PDK's default library), these join the file.
    mapping = {"PDK": pdk, "STD_CELL_LIBRARY": scl, **raw}
    try:
        Config.load(mapping, flow_config_vars=relaxed, pdk=pdk, scl=scl, pdk_root=str(pdk_root),
                    design_dir=str(Path(config_path).resolve().parent), _load_pdk_configs=False)
    except InvalidConfig as exc:
        problems += [str(e) for e in exc.errors] or [str(exc)]
    except (ValueError, TypeError, KeyError, PermissionError) as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", type=Path)
    ap.add_argument("--pdk-root", type=Path, required=True)
    ap.add_argument("--flow", default="Classic")
    args = ap.parse_args(argv)
    import openlane

    problems = check(args.config, args.pdk_root, args.flow)
    n = len(flow_variables(args.flow))
    for p in problems:
        print(f"error: {p}")
    status = "INVALID" if problems else "valid"
    print(f"{args.config}: {status} against {n} variables of OpenLane {openlane.__version__} ({args.flow})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
