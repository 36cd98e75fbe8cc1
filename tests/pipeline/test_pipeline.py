"""pipeline.yaml: the model, its round trip, its one-line errors, and the commands that take it (fake backend;
the real model, index and server are in test_integration.py)."""

import json

import pytest
from typer.testing import CliRunner

from llmopt.cli.main import app, main
from llmopt.errors import ConfigError
from llmopt.rag.config import AskConfig
from llmopt.rag.pipeline import Measured, Pipeline, load_pipeline, write_pipeline


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def fails(capsys, *args) -> str:
    """The one line `llmopt ARGS` prints on stderr as it exits with status 1."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture
def folder(tmp_path):
    """A pipeline's folder: a demonstrations pool, a prompt template and an index folder (its index.json)."""
    root = tmp_path.resolve() / "deploy"
    (root / "index").mkdir(parents=True)
    (root / "index" / "index.json").write_text(json.dumps({"embedder": "default"}))
    (root / "pool.jsonl").write_text('{"question": "Where?", "answer": "Lisbon"}\n')
    (root / "short.j2").write_text('{% extends "base.j2" %}\n')
    return root


def make(root, **settings):
    values = dict(strategy="drag", k=3, m=2, index=str(root / "index"), demos=str(root / "pool.jsonl"),
                  prompt=str(root / "short.j2"), model="fake:Lisbon", max_tokens=12)
    return Pipeline(name="support-bot", description="the winner", settings=AskConfig.make(**{**values, **settings}),
                    measured=Measured(metric="acc", value=0.62, ci=[0.5, 0.74], count=50, latency_p50_s=0.8,
                                      latency_p95_s=1.9, usd_per_1k_queries=0.02, effective_context_mean=900.0,
                                      questions=str(root / "questions.jsonl"), generated=True, date="2026-12-03"),
                    source={"project": "llmopt.yaml", "key": "drag|k=3"})


def test_write_then_load_gives_the_same_pipeline_with_paths_relative_to_its_folder(folder):
    pipeline = make(folder)
    path = write_pipeline(folder / "pipeline.yaml", pipeline)
    text = path.read_text()
    assert text.startswith("#") and "llmopt serve --pipeline pipeline.yaml" in text
    assert "demos: ./pool.jsonl" in text and "index: ./index" in text and "prompt: ./short.j2" in text
    assert load_pipeline(path) == pipeline
    moved = folder.parent / "moved"
    folder.rename(moved)  # the folder moves as a whole: its paths follow it
    again = load_pipeline(moved / "pipeline.yaml")
    assert again.settings.demos == str(moved / "pool.jsonl") and again.settings.index == str(moved / "index")
    assert again.measured.questions == str(moved / "questions.jsonl")


def test_an_index_name_or_uri_and_a_shipped_prompt_are_kept_as_written(folder, llmopt_home):
    (llmopt_home / "indexes" / "handbook").mkdir(parents=True)
    (llmopt_home / "indexes" / "handbook" / "index.json").write_text("{}")
    for index in ("handbook", "milvus://127.0.0.1:19530/docs"):  # a URI is not checked: its server is elsewhere
        pipeline = make(folder, index=index, prompt="cot")
        loaded = load_pipeline(write_pipeline(folder / "p.yaml", pipeline))
        assert loaded.settings.index == index and loaded.settings.prompt == "cot"


def test_relative_paths_start_at_the_pipeline_files_folder_not_the_current_one(folder, monkeypatch, tmp_path):
    (folder / "p.yaml").write_text("name: bot\nsettings:\n  strategy: drag\n  model: fake:x\n  index: ./index\n"
                                   "  demos: pool.jsonl\n  prompt: short.j2\n")
    monkeypatch.chdir(tmp_path)
    settings = load_pipeline("deploy/p.yaml").settings
    assert settings.index == str(folder / "index") and settings.demos == str(folder / "pool.jsonl")
    assert settings.prompt == str(folder / "short.j2")


@pytest.mark.parametrize("body, expected", [
    ("name: bot\nsettings:\n  strategy: none\n  topk: 3\n", "p.yaml:4: settings.topk: Extra inputs are not "
     "permitted (unknown key 'topk' at settings.topk; supported keys: strategy, k,"),
    ("name: bot\nsettings:\n  strategy: none\n  k: many\n", "p.yaml:4: settings.k: Input should be a valid integer"),
    ("name: bot\nsettings: {strategy: none}\nmeasured:\n  metric: acc\n  value: 0.5\n  count: -1\n  date: today\n",
     "p.yaml:6: measured.count: Input should be greater than or equal to 0 (got -1)"),
    ("name: Support Bot\nsettings: {strategy: none}\n", "p.yaml:1: name: 'Support Bot' is not a preset name"),
    ("name: rag\nsettings: {strategy: none}\n", "p.yaml:1: name: 'rag' is a strategy's name"),
    ("name: bot\nsetings: {strategy: none}\n", "p.yaml:2: setings: Extra inputs are not permitted"),
])
def test_validation_errors_name_the_file_line_and_key_path(tmp_path, body, expected):
    (tmp_path / "p.yaml").write_text(body)
    with pytest.raises(ConfigError) as info:
        load_pipeline(tmp_path / "p.yaml")
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_missing_index_demos_and_prompt_are_refused_in_one_line_naming_each(folder):
    path = write_pipeline(folder / "pipeline.yaml", make(folder))
    for name in ("pool.jsonl", "short.j2", "index/index.json"):
        (folder / name).unlink()
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith("pipeline 'support-bot' cannot run: ")
    assert f"settings.index: no index '{folder / 'index'}'" in message and "llmopt ingest PATH --index" in message
    assert f"settings.demos: demonstrations file not found: {folder / 'pool.jsonl'}" in message
    assert f"settings.prompt: prompt template file not found: {folder / 'short.j2'}" in message
    assert load_pipeline(path, check_files=False).name == "support-bot"  # e.g. to read it on another machine


def test_settings_that_cannot_run_are_refused(tmp_path):
    (tmp_path / "p.yaml").write_text("name: bot\nsettings:\n  strategy: drag\n")
    with pytest.raises(ConfigError, match=r"p.yaml:3: settings.strategy: strategy drag retrieves documents: name "
                       r"the index .*; .*p.yaml:3: settings.strategy: strategy drag answers with demonstrations"):
        load_pipeline(tmp_path / "p.yaml", check_files=False)
    (tmp_path / "p.yaml").write_text("name: bot\nsettings:\n  strategy: none\n  prompt: cott\n")
    with pytest.raises(ConfigError, match="p.yaml:4: settings.prompt: unknown prompt template 'cott'"):
        load_pipeline(tmp_path / "p.yaml")


def test_ask_config_puts_overrides_on_the_pipelines_settings(folder):
    pipeline = make(folder)
    config = pipeline.ask_config(k=8, temperature=None)  # None: not given
    assert (config.k, config.m, config.strategy, config.demos) == (8, 2, "drag", str(folder / "pool.jsonl"))
    with pytest.raises(ConfigError, match="k: Input should be greater than or equal to 0"):
        pipeline.ask_config(k=-1)


def closed_book(root, **settings):
    """A pipeline that needs no index: the fake model answers 'Lisbon'."""
    values = {"strategy": "none", "model": "fake:Lisbon", "max_tokens": 7, "temperature": 0.0, **settings}
    return write_pipeline(root / "pipeline.yaml", Pipeline(name="closed-book", settings=AskConfig.make(**values)))


def test_ask_runs_the_pipeline_and_flags_override_it(tmp_path, capsys):
    path = closed_book(tmp_path, prompt="cot")
    payload = json.loads(invoke("ask", "Where?", "--pipeline", path, "--json").stdout)
    assert payload["answer"] == "Lisbon" and payload["params"]["prompt"] == "cot" and payload["strategy"] == "none"
    payload = json.loads(invoke("ask", "Where?", "--pipeline", path, "--prompt", "basic", "--json").stdout)
    assert payload["params"]["prompt"] == "basic"
    assert "--config or --pipeline, not both" in fails(capsys, "ask", "Q", "--pipeline", path, "--config", path)


def test_ask_refuses_a_pipeline_whose_demonstrations_are_missing(tmp_path, capsys):
    path = closed_book(tmp_path, demos=str(tmp_path / "gone.jsonl"))
    assert "settings.demos: demonstrations file not found" in fails(capsys, "ask", "Where?", "--pipeline", path)


def write_questions(path, n=6):
    rows = [{"id": f"q{i}", "question": f"Where is office {i}?", "answers": ["Lisbon" if i % 2 else "Porto"]}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_eval_qa_evaluates_the_pipelines_one_configuration_on_its_question_set(tmp_path):
    questions = write_questions(tmp_path / "questions.jsonl")
    pipeline = Pipeline(name="closed-book", settings=AskConfig.make(strategy="none", model="fake:Lisbon",
                                                                    prompt="cot", max_tokens=7),
                        measured=Measured(metric="acc", value=0.5, count=4, questions=str(questions),
                                          date="2026-12-03"))
    path = write_pipeline(tmp_path / "pipeline.yaml", pipeline)
    summary = json.loads(invoke("eval", "qa", "--pipeline", path, "--demo-size", "2", "--out", tmp_path / "out",
                                "--json").stdout)
    (entry,) = summary["configs"]  # one configuration: the pipeline's
    assert (entry["model"], entry["strategy"], entry["prompt"], entry["count"]) == ("fake:Lisbon", "none", "cot", 4)
    assert summary["dataset"] == "questions" and summary["pipeline"]["file"] == str(path)
    other = write_questions(tmp_path / "other.jsonl", n=5)  # a dataset given on the command line wins
    summary = json.loads(invoke("eval", "qa", other, "--pipeline", path, "--demo-size", "2", "--models", "fake:Porto",
                                "--out", tmp_path / "out2", "--json").stdout)
    (entry,) = summary["configs"]
    assert entry["model"] == "fake:Porto" and entry["count"] == 3


def test_eval_qa_says_which_demonstrations_it_used(tmp_path):
    write_questions(tmp_path / "questions.jsonl", n=8)
    (tmp_path / "pool.jsonl").write_text('{"question": "Where?", "answer": "Lisbon"}\n')
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "index.json").write_text("{}")
    from llmopt.cli.eval import _from_pipeline

    pipeline = Pipeline(name="bot", settings=AskConfig.make(strategy="drag", m=2, k=3, model="fake:x",
                                                            index=str(tmp_path / "index"),
                                                            demos=str(tmp_path / "pool.jsonl"), top_p=0.5))
    base, notes = _from_pipeline(write_pipeline(tmp_path / "pipeline.yaml", pipeline))
    assert base["strategies"] == ["drag"] and base["m"] == [2] and base["k"] == [3]
    assert base["index"] == str(tmp_path / "index") and "dataset" not in base
    assert any("the first 2 of the dataset's demonstration split" in n and "pool.jsonl" in n for n in notes)
    assert any("not applied by eval qa: top_p=0.5" in n for n in notes)


def test_eval_qa_without_a_dataset_or_question_set_says_what_to_pass(tmp_path, capsys):
    err = fails(capsys, "eval", "qa", "--pipeline", closed_book(tmp_path))
    assert "pass DATASET" in err and "measured.questions" in err
