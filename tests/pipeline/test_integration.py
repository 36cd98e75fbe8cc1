"""pipeline.yaml round trip through ask, eval qa and serve with the embedded model over a real index (the demo
corpus's text documents): the server is `llmopt serve --pipeline` itself, on 127.0.0.1, called with the official
openai client by the pipeline's name and as the default model. Small settings (k=2, one demonstration, a few
answer tokens): these check the plumbing, not accuracy."""

import json
import os
import socket
import subprocess
import sys
import time

import openai
import pytest
from typer.testing import CliRunner

from llmopt.cli.main import app
from llmopt.rag.api import close_retrievers
from llmopt.rag.config import AskConfig
from llmopt.rag.pipeline import Measured, Pipeline, load_pipeline, write_pipeline

pytestmark = pytest.mark.integration

QUESTION = "Who is the chief financial officer of Veltora Dynamics?"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A folder as the lab leaves it: the index, the demonstration pool, the question set and pipeline.yaml."""
    from llmopt.demo import write_demo_data
    from llmopt.demo.qa import TEXT_DOCUMENTS
    from llmopt.ingest import ingest

    from ..conftest import SHARED_MODELS

    root = tmp_path_factory.mktemp("deploy").resolve()
    (root / "home").mkdir()
    (root / "home" / "models").symlink_to(SHARED_MODELS, target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLMOPT_HOME", str(root / "home"))
        write_demo_data(root, ["corpus", "qa"])
        report = ingest([root / "corpus" / name for name in TEXT_DOCUMENTS], index=str(root / "index"))
        assert report.summary()["failed"] == 0
    settings = AskConfig.make(model="default", strategy="drag", k=2, m=1, max_tokens=8, index=str(root / "index"),
                              demos=str(root / "qa" / "demos.jsonl"))
    measured = Measured(metric="acc", value=0.25, ci=[0.0, 0.75], count=4, latency_p50_s=0.5, latency_p95_s=0.9,
                        questions=str(root / "qa" / "questions.jsonl"), date="2026-12-03")
    path = write_pipeline(root / "pipeline.yaml", Pipeline(name="veltora-drag", settings=settings,
                                                           measured=measured))
    assert "index: ./index" in path.read_text() and load_pipeline(path).settings == settings
    yield path
    close_retrievers()


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def test_ask_answers_with_the_pipeline(deployed):
    from llmopt.demo.qa import TEXT_DOCUMENTS

    payload = json.loads(invoke("ask", QUESTION, "--pipeline", deployed, "--json").stdout)
    assert payload["strategy"] == "drag" and payload["params"]["k"] == 2 and payload["params"]["m"] == 1
    assert payload["model"].startswith("llamacpp:") and isinstance(payload["answer"], str)
    assert len(payload["citations"]) == 2
    assert all(c["source"].split("/")[-1] in TEXT_DOCUMENTS for c in payload["citations"])


@pytest.mark.slow
def test_eval_qa_runs_the_pipeline_on_its_question_set(deployed, tmp_path):
    result = CliRunner().invoke(app, ["eval", "qa", "--pipeline", str(deployed), "--limit", "2", "--out",
                                      str(tmp_path / "eval"), "--json"])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    summary = json.loads(result.stdout)
    (entry,) = summary["configs"]
    assert (entry["strategy"], entry["k"], entry["m"], entry["count"]) == ("drag", 2, 1, 2)
    assert entry["model"] == "default" and summary["dataset"] == "questions"
    assert any("demonstration split" in note for note in summary["pipeline"]["notes"])
    assert "demonstration split" in result.stderr  # said where a person reads it too


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow  # a server process loads the model and the index before its first answer
def test_serve_answers_by_the_pipelines_name_and_as_the_default_model(deployed):
    import httpx

    close_retrievers()  # Milvus Lite lets one process hold the index: the server's, from now on
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "llmopt.cli.main", "serve", "--pipeline", str(deployed),
                               "--port", str(port), "--log-level", "warning"], env=os.environ.copy(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stdout.read()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.5)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        names = [m.id for m in client.models.list()]
        assert names[0] == "veltora-drag" and "rag-k5" in names  # its index serves the other presets too
        for model in ("veltora-drag", "default"):
            reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": QUESTION}])
            assert reply.choices[0].message.content.strip()
            extra = reply.model_extra["llmopt"]
            assert extra["strategy"] == "drag" and extra["params"]["k"] == 2 and extra["params"]["m"] == 1
            assert len(reply.choices[0].message.model_extra["citations"]) == 2
            assert reply.usage.completion_tokens <= 8  # the pipeline's max_tokens
    finally:
        server.terminate()
        server.wait(timeout=30)
