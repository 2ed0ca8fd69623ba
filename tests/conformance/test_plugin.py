"""A third-party strategy, installed as a package with an entry point, passes hpo.testing in its own tests."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "plugin_fixture"


@pytest.mark.slow
def test_a_plugin_passes_the_kit_through_its_entry_point(tmp_path):
    source = tmp_path / "plugin"
    shutil.copytree(FIXTURE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp_path / "site"
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]  # offline when it can
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *isolation,
                    "--target", str(site), str(source)], check=True, capture_output=True, timeout=300)
    assert list(site.glob("hpo_demo_plugin-*.dist-info/entry_points.txt"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    shutil.rmtree(source / "hpo_demo_plugin")  # the tests must use the installed package
    found = subprocess.run([sys.executable, "-c", "import hpo; print('demo-local-search' in hpo.available())"],
                           env=env, capture_output=True, text=True, timeout=120, check=True)
    assert found.stdout.strip() == "True"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=source,
                         env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "9 passed" in run.stdout, run.stdout[-2000:]
