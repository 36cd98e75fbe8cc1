"""`llmopt finetune`: flags derived from the config, YAML configs, one JSON object on stdout, one-line errors."""

import json

import pytest

from llmopt.cli.main import main


def test_yaml_config_with_flag_override_prints_one_json_object(tiny_model, task_files, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(f"model: hf:{tiny_model}\ndata: {task_files[0]}\neval: {task_files[1]}\nmethod: full\n"
                      f"max-steps: 5\neval_generate: 0\nout: {tmp_path / 'out'}\n")
    main(["finetune", "--config", str(config), "--max-steps", "1", "--json"])
    stdout = capsys.readouterr().out.strip().splitlines()
    assert len(stdout) == 1
    result = json.loads(stdout[0])
    assert result["steps"] == 1 and result["method"] == "full"  # the flag wins over the file's max-steps
    assert {"out", "train_tokens", "tokens_per_s", "eval_loss_before", "eval_loss_after"} <= set(result)


def test_bad_options_fail_with_one_line_naming_the_fix(tiny_model, task_files, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["finetune", "--model", f"hf:{tiny_model}", "--data", str(task_files[0]), "--method", "qlora"])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.strip()
    assert "method" in error and "'full'" in error and len(error.splitlines()) == 1
