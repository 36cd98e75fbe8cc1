"""`llmopt serve --pipeline`: the pipeline is a preset under its own name and the default model, its settings (its
max_tokens included) answer, and a pipeline that cannot run is refused before anything is opened. The fake
backend on a real uvicorn server, called with the official openai client; the real model and index are in
test_integration.py."""

import json

import openai
import pytest

from llmopt.cli.main import main
from llmopt.errors import ConfigError
from llmopt.rag.config import AskConfig
from llmopt.rag.pipeline import Pipeline, write_pipeline

WORDS = "fake:one two three four five six seven eight"


def closed_book(root, name="closed-book", **settings):
    values = {"strategy": "none", "model": WORDS, "max_tokens": 3, "temperature": 0.0, **settings}
    pipeline = Pipeline(name=name, description="the winner", settings=AskConfig.make(**values))
    return write_pipeline(root / "pipeline.yaml", pipeline)


def test_the_pipeline_answers_under_its_name_and_as_the_default_model(tmp_path):
    from llmopt.serve import create_app, running

    app = create_app(pipeline=str(closed_book(tmp_path)), default_reports=False)
    with running(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        names = [m.id for m in client.models.list()]
        assert names[0] == "closed-book" and "rag-k5" not in names  # no index: no retrieval presets
        for model in ("closed-book", "default", WORDS):  # its name, 'default', and the server's model spec
            reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Count."}])
            assert reply.choices[0].message.content == "one two three"  # the pipeline's max_tokens: 3
            assert reply.choices[0].finish_reason == "length"
            assert reply.model_extra["llmopt"]["strategy"] == "none"
        short = client.chat.completions.create(model="default", max_tokens=2,
                                               messages=[{"role": "user", "content": "Count."}])
        assert short.choices[0].message.content == "one two"  # a request's own max_tokens still wins


def test_an_operators_preset_keeps_its_max_tokens_when_the_request_gives_none(tmp_path):
    from llmopt.serve import create_app, running

    app = create_app(model=WORDS, presets={"short": {"strategy": "none", "max_tokens": 3}}, default_reports=False)
    with running(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        reply = client.chat.completions.create(model="short", messages=[{"role": "user", "content": "Count."}])
        assert reply.choices[0].message.content == "one two three"


def test_check_lists_the_pipeline_first_with_its_settings(tmp_path, capsys):
    main(["serve", "--pipeline", str(closed_book(tmp_path, prompt="cot")), "--check", "--json"])
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    name, preset = next(iter(payload["presets"].items()))
    assert name == "closed-book" and preset["strategy"] == "none" and preset["model"] == WORDS
    assert preset["params"]["prompt"] == "cot" and preset["params"]["max_tokens"] == 3
    assert preset["description"] == "the winner"


def test_serve_refuses_a_pipeline_whose_index_and_demos_are_missing_before_opening_anything(tmp_path, capsys,
                                                                                          monkeypatch):
    import llmopt.serve.app
    import llmopt.serve.server

    def never(*args, **kwargs):
        raise AssertionError("nothing may be opened or bound for a pipeline that cannot run")

    monkeypatch.setattr(llmopt.serve.app, "create_app", never)
    monkeypatch.setattr(llmopt.serve.server, "serve", never)
    path = closed_book(tmp_path, strategy="drag", m=1, index=str(tmp_path / "gone-index"),
                       demos=str(tmp_path / "gone.jsonl"))
    with pytest.raises(SystemExit) as info:
        main(["serve", "--pipeline", str(path)])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"no index '{tmp_path / 'gone-index'}'" in err and f"not found: {tmp_path / 'gone.jsonl'}" in err


def test_a_server_holds_one_index_the_pipelines(tmp_path):
    from llmopt.serve.config import make_config

    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "index.json").write_text("{}")
    path = closed_book(tmp_path, strategy="rag", index=str(tmp_path / "index"))
    with pytest.raises(ConfigError, match="uses index .*index, not other-index: a server holds one index; drop "
                       "--index"):
        make_config(None, pipeline=str(path), index="other-index")
    config = make_config(None, pipeline=str(path), index=str(tmp_path / "index"), model="fake:x")
    assert config.index == str(tmp_path / "index") and config.model == "fake:x"  # --model: the others' model
    assert config.presets["closed-book"].model == WORDS and config.default_preset == "closed-book"


def test_a_default_preset_that_cannot_run_stops_startup():
    from llmopt.serve import create_app

    with pytest.raises(ConfigError, match="the default preset 'rag-k5' needs an index"):
        create_app(model="fake:x", default_preset="rag-k5", warm=False)
    with pytest.raises(ConfigError, match="no preset 'nope' to serve as the default"):
        create_app(model="fake:x", default_preset="nope", warm=False)
