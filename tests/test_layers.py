"""The package's import structure, read from the source (docs/architecture.md):

- the modules' top-level imports form no cycle, so no module works only because of the
  order in which others happened to be imported;
- lower layers never import higher ones: the components (data, nn, models, objectives)
  import neither the trainer nor the use side; the trainer imports no family's objective
  or model file and nothing of metrics / generate / restore; the use side (generate,
  restore) does not import the CLI or the API.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "pixelsmith"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path, name: str) -> set[str]:
    """pixelsmith modules imported at module level (not inside functions: those run late)."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in tree.body:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("pixelsmith")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            if not base.startswith("pixelsmith"):
                continue
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        # importing a.b.c runs a/__init__ and a/b/__init__ first (not the module's own
        # packages: they are already being imported when it runs)
        own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        deps = {d for d in _top_level_imports(path, name)
                if d in modules and d != name and d not in own}
        parents = {".".join(d.split(".")[:i]) for d in deps for i in range(2, d.count(".") + 1)}
        edges[name] = deps | {p for p in parents if p in modules and p != name and p not in own}
    return edges


def test_top_level_imports_have_no_cycle(graph):
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycle = stack[stack.index(d):] + [d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for d in graph[todo.pop()]:
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


# (modules whose prefix is this, may not import modules whose prefix is any of these)
FORBIDDEN = [
    ("pixelsmith.data", ("pixelsmith.objectives", "pixelsmith.training", "pixelsmith.generate",
                         "pixelsmith.restore", "pixelsmith.cli", "pixelsmith.api",
                         "pixelsmith.config.resolve", "pixelsmith.models")),
    ("pixelsmith.nn", ("pixelsmith.models", "pixelsmith.objectives", "pixelsmith.training")),
    ("pixelsmith.models", ("pixelsmith.objectives", "pixelsmith.training", "pixelsmith.generate",
                           "pixelsmith.restore", "pixelsmith.metrics", "pixelsmith.cli",
                           "pixelsmith.config.resolve")),
    ("pixelsmith.objectives", ("pixelsmith.training", "pixelsmith.generate",
                               "pixelsmith.restore", "pixelsmith.cli", "pixelsmith.api",
                               "pixelsmith.config.resolve", "pixelsmith.metrics.evaluate",
                               "pixelsmith.metrics.distribution")),
    ("pixelsmith.training", ("pixelsmith.metrics", "pixelsmith.generate", "pixelsmith.restore",
                             "pixelsmith.cli", "pixelsmith.api", "pixelsmith.objectives.gan",
                             "pixelsmith.objectives.vae", "pixelsmith.objectives.restoration",
                             "pixelsmith.objectives.inpainting")),
    # ... and not even through other modules (it reaches every objective through the
    # registry-filling packages, which is fine, and metrics.paired through them)
    ("pixelsmith.training.", ("pixelsmith.generate", "pixelsmith.restore", "pixelsmith.cli",
                              "pixelsmith.api", "pixelsmith.metrics.evaluate",
                              "pixelsmith.metrics.distribution",
                              "pixelsmith.metrics.training_eval")),
    ("pixelsmith.generate", ("pixelsmith.cli", "pixelsmith.api", "pixelsmith.restore",
                             "pixelsmith.training.trainer")),
    ("pixelsmith.restore", ("pixelsmith.cli", "pixelsmith.api", "pixelsmith.training.trainer")),
    ("pixelsmith.config.schema", ("pixelsmith",)),  # a leaf: only the standard library
]


@pytest.mark.parametrize("low,high", FORBIDDEN,
                         ids=[f[0] + ("*" if f[0].endswith(".") else "") for f in FORBIDDEN])
def test_lower_layers_do_not_import_higher_ones(graph, low, high):
    for m in sorted(graph):
        if m != low.rstrip(".") and not m.startswith(low.rstrip(".") + "."):
            continue
        # a prefix ending in "." is checked for every module it reaches, not only direct ones
        deps = _reach(graph, m) if low.endswith(".") else graph[m]
        bad = sorted(d for d in deps for h in high if d == h or d.startswith(h + "."))
        bad = [d for d in bad if d not in ("pixelsmith.errors",)]
        assert not bad, f"{m} imports {bad}"


def test_the_trainer_module_names_no_family():
    text = (PKG / "training" / "trainer.py").read_text().lower()
    for word in (r"\bgan\b", r"\bvae\b", "restoration", "restorer", "inpaint", "patch_size",
                 "family"):
        hits = [ln.strip() for ln in text.splitlines() if re.search(word, ln)]
        assert not hits, f"trainer.py mentions {word!r}: {hits[:2]}"


def test_a_component_imports_alone_in_a_fresh_process():
    """The modules the import-order cycle used to break, each first in a new interpreter."""
    for mod in ("pixelsmith.metrics.vae", "pixelsmith.models.resnet"):
        proc = subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True,
                              text=True)
        assert proc.returncode == 0, f"import {mod} failed:\n{proc.stderr[-600:]}"
