"""The driver's layers (docs/architecture.md): built from the source with ``ast``, function-local
imports included, the module import graph has no cycle and every import goes downward."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"skyspike": ROOT / "sw" / "skyspike", "skyspike_hw": ROOT / "hw" / "skyspike_hw"}

#: Layer of each package (a module's layer is its subpackage's). An import may go to the same
#: layer's package itself, or to any lower layer; never up, never sideways to another package.
LAYERS = {
    "skyspike.spec": 0, "skyspike.errors": 0,
    "skyspike.chip": 1,
    "skyspike.compiler": 2, "skyspike.link": 2,
    "skyspike_hw": 2,
    "skyspike.emu": 3, "skyspike.rtlsim": 3,
    "skyspike.backends": 4,
    "skyspike.apps": 5,
    "skyspike": 6,            # the package's lazy re-exports
}


def module_name(path: Path) -> str:
    for top, base in SOURCES.items():
        if path.is_relative_to(base):
            parts = [top, *path.relative_to(base).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise ValueError(path)


def modules() -> dict[str, Path]:
    return {module_name(p): p for base in SOURCES.values() for p in base.rglob("*.py")}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules imported anywhere in the file (top level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod when there is one.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def layer_of(module: str) -> tuple[str, int]:
    pkg = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return pkg, LAYERS[pkg]


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_imports_go_down_the_layers():
    bad = []
    for mod, deps in graph().items():
        pkg, level = layer_of(mod)
        for dep in deps:
            dpkg, dlevel = layer_of(dep)
            if dpkg != pkg and dlevel >= level and dpkg != "skyspike":
                bad.append(f"{mod} ({pkg}, layer {level}) imports {dep} ({dpkg}, layer {dlevel})")
            if dpkg == "skyspike" and mod != "skyspike":
                bad.append(f"{mod} imports the top-level re-exports ({dep}); import the defining module")
    assert not bad, "\n".join(sorted(bad))


def test_hardware_imports_only_the_contract():
    bad = [f"{mod} imports {dep}" for mod, deps in graph().items() if mod.startswith("skyspike_hw")
           for dep in deps if not dep.startswith(("skyspike_hw", "skyspike.spec"))]
    assert not bad, "\n".join(bad)


def test_contract_imports_nothing_else():
    """skyspike.spec is plain data: no third-party library, nothing of the project above it."""
    allowed = {"__future__", "dataclasses", "enum", "operator", "typing"}
    for name, path in modules().items():
        if not name.startswith("skyspike.spec"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                tops = [node.module.split(".")[0]]
            else:
                continue
            for t in tops:
                assert t in allowed or t == "skyspike", f"{name} imports {t}"


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module,layer", [("skyspike.spec.config", 0), ("skyspike.apps.cli", 5),
                                          ("skyspike_hw.core", 2)])
def test_layer_of(module, layer):
    assert layer_of(module)[1] == layer


def test_tests_use_only_public_names():
    """No test imports a private (_underscore) name of the project, or calls one through a module."""
    bad = []
    for path in (ROOT / "tests").rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("skyspike"):
                bad += [f"{path.name}: from {node.module} import {a.name}" for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
                modules |= {a.asname or a.name for a in node.names}
            elif isinstance(node, ast.Import):
                modules |= {a.asname or a.name for a in node.names if a.name.startswith("skyspike")}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                bad.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not bad, "\n".join(bad)
