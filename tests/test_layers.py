"""The package layers of ARCHITECTURE.md: every import of a handrecon module points to its own layer or below.

Parses each module's imports (module level and inside functions alike) with `ast`, so that a new module
that reaches upwards (a loss importing a metric, geometry importing the hand model) fails here rather
than turning into an import cycle later.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "handrecon"

# Top-level name under handrecon -> layer. Imports may point to the same layer or lower.
LAYERS: dict[str, int] = {
    "assets": 0,  # bundled files, no code of its own
    "geometry": 1,
    "io": 1,
    "hand": 2,
    "render": 3,
    "priors": 4,
    "eval": 4,
    "detect": 5,
    "fit": 5,
    "texture": 5,
    "data": 6,
    "synth": 6,
    "nn": 6,
    "train": 6,
    "pipeline": 7,
    "api": 7,
    "cli": 7,
    "commands": 7,
    "__init__": 7,  # handrecon/__init__.py: the lazy public names
}

# Same-layer pairs that must not know each other (losses and metrics stay independent of one another).
FORBIDDEN_SIDEWAYS: set[tuple[str, str]] = {("priors", "eval"), ("eval", "priors")}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _top(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _package_parts(path: Path, src: Path) -> list[str]:
    """The dotted package a module's relative imports resolve against."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    return parts[:-1]  # a package's __init__ and a plain module both resolve against their folder


def _imported(path: Path, src: Path = SRC) -> list[tuple[int, str]]:
    """(line, 'handrecon.x.y') for every handrecon import in the module, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "handrecon"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_parts(path, src)
                base = package[: len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] == "handrecon":
                if name == "handrecon":  # `from handrecon import x`: x names the top-level package
                    out += [(node.lineno, f"handrecon.{a.name}") for a in node.names]
                else:
                    out.append((node.lineno, name))
    return out


def _target_top(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_package_has_a_layer():
    tops = {_top(p) for p in _modules()}
    missing = sorted(tops - set(LAYERS))
    assert not missing, f"add these packages to LAYERS (and to ARCHITECTURE.md): {missing}"


def test_imports_point_down_or_sideways_only():
    problems = []
    for path in _modules():
        src = _top(path)
        for line, name in _imported(path):
            dst = _target_top(name)
            if dst == src or dst not in LAYERS or src not in LAYERS:
                continue
            where = f"{path.relative_to(SRC)}:{line} imports {name}"
            if LAYERS[dst] > LAYERS[src]:
                problems.append(f"{where} (layer {LAYERS[dst]} above {src}'s layer {LAYERS[src]})")
            elif (src, dst) in FORBIDDEN_SIDEWAYS:
                problems.append(f"{where} ({src} and {dst} never import each other)")
    assert not problems, "\n".join(problems)


def test_no_cycles_between_packages():
    edges: dict[str, set[str]] = {}
    for path in _modules():
        src = _top(path)
        for _, name in _imported(path):
            dst = _target_top(name)
            if dst != src:
                edges.setdefault(src, set()).add(dst)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo += edges.get(node, ())
        return False

    cycles = sorted(f"{a} -> {b} -> ... -> {a}" for a in edges for b in edges[a] if reaches(b, a))
    assert not cycles, f"package import cycles: {cycles}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from handrecon.hand.keypoints import X\n", ["handrecon.hand.keypoints"]),
        ("def f():\n    from handrecon.eval import ssim\n", ["handrecon.eval"]),
        ("from ..eval.pck import pck\n", ["handrecon.eval.pck"]),
        ("from . import masks\n", ["handrecon.priors"]),
        ("import handrecon.render.soft as s\n", ["handrecon.render.soft"]),
        ("import numpy\nfrom torch import nn\n", []),
    ],
)
def test_import_parser_sees_every_form(tmp_path, source, expected):
    """The checker itself: nested, relative and plain imports are all found (a checker that sees nothing passes)."""
    package = tmp_path / "handrecon" / "priors"
    package.mkdir(parents=True)
    module = package / "losses.py"
    module.write_text(source)
    assert [name for _, name in _imported(module, tmp_path)] == expected
