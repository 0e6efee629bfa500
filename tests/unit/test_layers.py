"""Every import inside rewardkit points down the layers, lazy imports included.

The layers, lowest first; a module may import its own package and any package in a lower layer,
never one in a higher layer (docs/architecture.md explains what each knows). Read from the source
with `ast`, so an import inside a function counts exactly like one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rewardkit

SRC = Path(rewardkit.__file__).parent

LAYERS = [
    {"_version", "errors", "types", "config", "plan"},
    {"templating"},
    {"selection"},
    {"data"},
    {"rules"},
    {"models"},
    {"engine"},
    {"client"},
    {"scoring"},
    {"evaluation"},
    {"training"},
    {"integrations"},
    {"serving"},
    {"cli"},
]
LEVEL = {name: level for level, names in enumerate(LAYERS) for name in names}

PURE = [
    *["selection", "rules", "plan.py", "config.py", "types.py", "errors.py"],
    *["evaluation/metrics.py", "evaluation/rewardbench2.py", "evaluation/rm_bench.py", "evaluation/answer_sets.py"],
]
"""Pure math and plain data: never torch, not even lazily."""


def _unit(module: str) -> str:
    """'rewardkit.scoring.model' -> 'scoring'."""
    return module.split(".")[1] if module.count(".") else ""


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        found.append((".".join(("rewardkit", *parts)).removesuffix(".__init__"), path))
    return found


def _absolute(node: ast.ImportFrom, module: str, path: Path) -> list[str]:
    """The modules a relative import names, as absolute names: ``from ..serving import app`` in
    rewardkit/engine/worker.py is rewardkit.serving; ``from .. import serving`` names it too."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    base = package.split(".")[: max(0, package.count(".") + 1 - (node.level - 1))]
    if node.module:
        return [".".join([*base, node.module])]
    return [".".join([*base, alias.name]) for alias in node.names]


def _imports(path: Path, module: str = "") -> list[tuple[int, str, list[str]]]:
    """(line, module imported, names taken from it) for every rewardkit import in the file, relative
    imports (``from ..serving import app``) included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name, []) for alias in node.names if alias.name.startswith("rewardkit")]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names = [alias.name for alias in node.names]
            out += [(node.lineno, target, names) for target in _absolute(node, module, path)]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rewardkit"):
            out.append((node.lineno, node.module or "", [alias.name for alias in node.names]))
    return out


def _violations() -> list[str]:
    problems = []
    for module, path in _modules():
        unit = _unit(module)
        if module == "rewardkit":
            continue  # the lazy facade sits above everything on purpose
        if unit not in LEVEL:
            problems.append(f"{path.relative_to(SRC)}: not in any layer; add it to LAYERS (and docs/architecture.md)")
            continue
        for line, target, names in _imports(path, module):
            where = f"{path.relative_to(SRC)}:{line}"
            if target == "rewardkit":
                problems.append(f"{where} imports {names} from the top-level facade; import their home")
                continue
            other = _unit(target)
            if other not in LEVEL:
                problems.append(f"{where} imports {target}, which is in no layer")
            elif LEVEL[other] > LEVEL[unit]:
                problems.append(f"{where}: {unit} (layer {LEVEL[unit]}) imports {target} (layer {LEVEL[other]})")
    return problems


def test_every_import_points_down_the_layers():
    assert _violations() == []


def test_the_layer_check_sees_lazy_imports(tmp_path, monkeypatch):
    """The checker itself: an upward import inside a function is caught."""
    fake = tmp_path / "rewardkit"
    (fake / "engine").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "engine" / "__init__.py").write_text("")
    (fake / "engine" / "worker.py").write_text("def f():\n    from rewardkit.serving import app\n")
    monkeypatch.setattr(__import__(__name__), "SRC", fake)
    assert any("engine (layer 6) imports rewardkit.serving" in p for p in _violations())


@pytest.mark.parametrize(
    ("code", "where"),
    [
        ("from ...serving import app", "engine/runner/deep.py"),
        ("from ..serving.app import build", "engine/worker.py"),
        ("from .. import serving", "engine/worker.py"),
        ("from ..serving import app", "engine/__init__.py"),
    ],
)
def test_the_layer_check_follows_relative_imports(tmp_path, monkeypatch, code, where):
    """``from ..serving import app`` inside engine/ is as upward as ``from rewardkit.serving import app``."""
    fake = tmp_path / "rewardkit"
    module = fake / where
    module.parent.mkdir(parents=True, exist_ok=True)
    for folder in [fake, *module.parent.relative_to(fake).parents, module.parent.relative_to(fake)]:
        (fake / folder / "__init__.py").touch()
    module.write_text(f"def f():\n    {code}\n")
    monkeypatch.setattr(__import__(__name__), "SRC", fake)
    assert any("engine (layer 6) imports rewardkit.serving" in p for p in _violations()), _violations()


@pytest.mark.parametrize("part", PURE)
def test_pure_modules_never_import_torch(part):
    target = SRC / part
    for path in [target] if target.is_file() else sorted(target.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n == "torch" or n.startswith("torch.") for n in names), f"{path} imports torch"
