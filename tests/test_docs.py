"""The repository's Markdown: every relative link points at a file or folder that exists (and
a #fragment at a heading of that file); no absolute path of a machine anywhere in the tree."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def tracked(pattern: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / p for p in out.stdout.split()]


def anchors(md: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    heads = re.findall(r"^#+\s+(.+?)\s*$", md.read_text(), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def links(md: Path):
    text = re.sub(r"```.*?```", "", md.read_text(), flags=re.S)   # code blocks hold no links
    for m in LINK.finditer(text):
        yield m.group(1) or m.group(2)


def broken(md: Path) -> list[str]:
    bad = []
    for target in links(md):
        if re.match(r"^[a-z]+:", target):          # http:, https:, mailto:
            continue
        path, _, frag = target.partition("#")
        dest = (md.parent / path).resolve() if path else md
        if not dest.exists():
            bad.append(f"{md.relative_to(ROOT)}: {target} (no such file)")
        elif frag and dest.suffix == ".md" and frag not in anchors(dest):
            bad.append(f"{md.relative_to(ROOT)}: {target} (no heading #{frag})")
    return bad


def test_markdown_links_resolve():
    bad = [b for md in tracked("*.md") for b in broken(md)]
    assert not bad, "\n".join(bad)


def test_link_checker_sees_a_broken_link(tmp_path):
    md = tmp_path / "x.md"
    (tmp_path / "y.md").write_text("# A heading\n")
    md.write_text("[ok](y.md) [ok2](y.md#a-heading) [bad](nope.md) [badfrag](y.md#nope) [web](https://x)\n"
                  "```\n[in code](ignored.md)\n```\n")
    global ROOT
    old, ROOT = ROOT, tmp_path
    try:
        assert broken(md) == ["x.md: nope.md (no such file)", "x.md: y.md#nope (no heading #nope)"]
    finally:
        ROOT = old


@pytest.mark.parametrize("pattern", ["/work/", "/home/", "/root/", "/Users/"])
def test_no_machine_paths(pattern):
    out = subprocess.run(["git", "grep", "-n", "-F", pattern, "--", ":!tests/test_docs.py"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.stdout == "", f"absolute paths of a machine in the tree:\n{out.stdout}"


def test_readme_bring_your_own_model_example_runs(tmp_path, monkeypatch):
    """The README's Python example, as written, with random images standing in for a data set."""
    import numpy as np

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Bring your own snnTorch model"):]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope = {"images": np.random.default_rng(0).random((2, 784))}
    exec(compile(code, "README.md", "exec"), scope)   # noqa: S102 - the documented example itself
    assert (tmp_path / "net.npz").is_file() and len(scope["out"].prediction) == 2


def test_make_help_lists_the_readme_targets():
    """`make help` and the README's table of targets name the same targets."""
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    listed = set(re.findall(r"^  make (\S+)", out, flags=re.M))
    readme = set(re.findall(r"^\| `make (\S+?)`", (ROOT / "README.md").read_text(), flags=re.M))
    assert readme and readme <= listed, f"in the README but not in make help: {readme - listed}"
    assert {"sim", "test", "help"} <= listed


def test_readme_layout_names_every_module():
    """The README's layout table lists every module of the driver and the hardware."""
    text = (ROOT / "README.md").read_text()
    layout = text[text.index("## Layout"):text.index("## Silicon")]
    modules = [p for base in ("sw/skyspike", "hw/skyspike_hw") for p in (ROOT / base).rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py") and "flow" not in p.parts]
    missing = [str(p.relative_to(ROOT)) for p in modules if f"`{p.name}`" not in layout]
    assert not missing, f"not in the README's layout table: {missing}"
