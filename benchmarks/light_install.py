"""The light core install: ``pip install .`` into a fresh venv without extras, timed and sized.

Creates a throwaway virtual environment, installs this checkout without extras (optionally
with ``-c constraints.txt``), and in that environment runs a study with ``tpe`` and with
``random`` and asks for ``smac``, which must fail with the one-line hint naming its extra.
Writes ``benchmarks/results/light_install.{json,md}``::

    python -m benchmarks.light_install            # about 5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.resultfiles import machine, write_outputs

__all__ = ["main", "measure"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

_CHECK = r"""
import json, sys, time
t = time.perf_counter()
import hpo
import_s = time.perf_counter() - t
out = {"import_s": round(import_s, 3), "heavy_modules_loaded": sorted(m for m in ("torch", "ray", "smac", "botorch", "peft")
                                                                      if m in sys.modules)}
for name in ("tpe", "random"):
    study = hpo.create_study(space={"x": hpo.Float(-5, 5), "k": hpo.Categorical(["a", "b"])}, strategy=name, seed=0)
    study.optimize(lambda tr: (tr.params["x"] - 1) ** 2 + (tr.params["k"] == "b"), n_trials=20)
    out[name] = {"complete": sum(t.state.name == "COMPLETE" for t in study.trials), "best": round(study.best_value, 4)}
try:
    hpo.create_study(space={"x": hpo.Float(0, 1)}, strategy="smac")
    out["smac"] = "no error"
except Exception as e:
    out["smac"] = f"{type(e).__name__}: {e}"
print(json.dumps(out))
"""


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def measure(constraints: bool = True) -> dict:
    """Install the checkout without extras into a fresh venv; time, size and the checks' output."""
    with tempfile.TemporaryDirectory(prefix="hpo-light-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        py = venv / "bin" / "python"
        base = _du(venv)
        cmd = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)]
        if constraints:
            cmd += ["-c", str(ROOT / "constraints.txt")]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, env={**os.environ, "PIP_NO_CACHE_DIR": "1"})
        install_s = time.perf_counter() - t
        size = _du(venv) - base
        pkgs = subprocess.run([str(py), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
                              capture_output=True, text=True, check=True).stdout
        check = subprocess.run([str(py), "-c", _CHECK], capture_output=True, text=True, cwd=tmp, timeout=600)
        if check.returncode != 0:
            raise RuntimeError(f"the light install's check failed: {check.stderr.strip().splitlines()[-1]}")
        return {"install_s": round(install_s, 1), "installed_mb": round(size / 2**20, 1),
                "packages": len(json.loads(pkgs)), "constraints": constraints, **json.loads(check.stdout)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-constraints", action="store_true", help="resolve the newest versions instead")
    args = ap.parse_args(argv)
    meta = machine()
    result = measure(constraints=not args.no_constraints)
    cmd = "python -m benchmarks.light_install" + (" --no-constraints" if args.no_constraints else "")
    md = "\n".join([
        f"# The light core install ({meta['date']}; {meta['machine']}, {meta['cpus']} cores, load {meta['load_average']})",
        "", f"Command: `{cmd}` (`pip install .` without extras into a fresh venv, no pip cache"
        f"{', with -c constraints.txt' if result['constraints'] else ''}).", "",
        "| install (s) | installed (MB) | packages | `import hpo` (s) | torch/ray/smac/botorch/peft loaded |",
        "|---:|---:|---:|---:|---|",
        f"| {result['install_s']} | {result['installed_mb']} | {result['packages']} | {result['import_s']} | "
        f"{', '.join(result['heavy_modules_loaded']) or 'none'} |", "",
        f"- `tpe`, 20 trials: {result['tpe']['complete']} complete, best {result['tpe']['best']}",
        f"- `random`, 20 trials: {result['random']['complete']} complete, best {result['random']['best']}",
        f"- `strategy=\"smac\"`: `{result['smac']}`", ""])
    write_outputs(RESULTS / "light_install", {"machine": meta, "command": cmd, **result}, md)
    print(md)


if __name__ == "__main__":
    main()
