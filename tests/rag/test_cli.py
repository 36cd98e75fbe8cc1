"""`llmopt ask` with the fake backend: the JSON contract, YAML configs, one-line errors."""

import json

import pytest

from llmopt.cli.main import main


def test_json_output_has_the_documented_shape(capsys):
    main(["ask", "What is two plus two?", "--strategy", "none", "--model", "fake:four", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert payload["answer"] == "four" and payload["strategy"] == "none" and payload["citations"] == []
    assert payload["params"] == {"k": 5, "m": 0, "n": 3, "samples": 1, "prompt": "basic"}
    assert set(payload["usage"]) >= {"prompt_tokens", "cached_prompt_tokens", "completion_tokens",
                                     "effective_context_tokens", "calls", "latency_s", "cost_usd"}
    assert payload["usage"]["calls"] == 1


def test_text_output_and_yaml_config(tmp_path, capsys):
    config = tmp_path / "ask.yaml"
    config.write_text("strategy: none\nsamples: 2\nprompt: cot\n")
    main(["ask", "Which?", "--model", "fake:So the final answer is: blue", "--config", str(config), "--steps"])
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "blue"
    assert "answer" in captured.out and "2 call(s)" in captured.err


def test_bad_input_is_one_clean_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["ask", "Which?", "--strategy", "rag", "--model", "fake:x"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "pass --index INDEX" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["ask", "Which?", "--strategy", "none", "--model", "fake:x", "--max-context", "3"])
    assert "raise --max-context" in capsys.readouterr().err
