"""Layers and a light core: nothing in hpo/ imports benchmarks/, `import hpo` loads no optional
package, and a strategy whose extra is missing says which one to install, in one line."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import hpo
from hpo.extras import MissingExtraError

OPTIONAL = ("torch", "smac", "hyperopt", "pygam", "ray", "openai", "peft", "transformers", "botorch",
            "matplotlib", "llama_cpp", "benchmarks")


def test_no_module_of_hpo_imports_benchmarks():
    offenders = []
    for path in Path(hpo.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            offenders += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] == "benchmarks"]
    assert not offenders, offenders


def test_import_hpo_loads_no_optional_package():
    code = f"import sys, hpo; print([m for m in {OPTIONAL!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("strategy, package, extra", [
    ("smac", "smac", "smac"),
    ("smac-bb", "smac", "smac"),
    ("hyperopt-tpe", "hyperopt", "hyperopt"),
    ("homopt", "pygam", "homopt"),
    ("homopt:smac", "smac", "smac"),
])
def test_a_missing_extra_is_named_in_one_line(monkeypatch, strategy, package, extra):
    monkeypatch.setitem(sys.modules, package, None)  # as if it were not installed
    for module in ("hpo.strategies.hyperopt_tpe",):
        monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(MissingExtraError) as e:
        hpo.create_study(space={"x": hpo.Float(0, 1)}, strategy=strategy)
    message = str(e.value)
    assert message == f'strategy {strategy.split(":")[0]!r} needs {package}, which is not installed: pip install "hpo[{extra}]"' \
        or message == f'strategy {package!r} needs {package}, which is not installed: pip install "hpo[{extra}]"', message
    assert "\n" not in message


def test_core_strategies_need_no_extra(monkeypatch):
    for package in ("smac", "hyperopt", "pygam", "torch"):
        monkeypatch.setitem(sys.modules, package, None)
    for strategy in ("random", "tpe", "gp"):
        study = hpo.create_study(space={"x": hpo.Float(0, 1)}, strategy=strategy, seed=0)
        study.optimize(lambda t: t.params["x"], n_trials=3)
        assert len(study.trials) == 3
