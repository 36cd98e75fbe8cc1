"""`llmopt merge`: JSON on stdout, the dry-run plan table, one-line errors."""

from __future__ import annotations

import json

import pytest

from llmopt.cli.main import main


def run(args, capsys) -> tuple[int, str, str]:
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def config(tiny_models, write_config):
    return write_config({"merge_method": "task_arithmetic", "base_model": tiny_models["m0"], "parameters": {"t": 0.3},
                         "models": [{"model": tiny_models["m1"], "parameters": {"weight": 0.7}},
                                    {"model": tiny_models["m2"], "parameters": {"weight": 0.3}}]})


def test_merge_prints_one_json_object(config, tmp_path, capsys):
    code, out, err = run(["merge", str(config), "--out", str(tmp_path / "out"), "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["method"] == "task_arithmetic" and data["tensors"] == 39 and data["shards"] == ["model.safetensors"]
    assert "'t' does not apply to task_arithmetic" in err and (tmp_path / "out" / "model.safetensors").is_file()


def test_dry_run_prints_the_plan_and_writes_nothing(config, tmp_path, capsys):
    code, out, _ = run(["merge", str(config), "--out", str(tmp_path / "out"), "--dry-run", "--max-shard-size", "200KB"],
                       capsys)
    assert code == 0 and not (tmp_path / "out").exists()
    assert "model.layers.3.mlp.down_proj.weight" in out and "model-00001-of-0000" in out and "Output shards" in out
    code, out, _ = run(["merge", str(config), "--dry-run", "--json"], capsys)
    plan = json.loads(out)["plan"]
    assert code == 0 and plan["tensors"] == 39 and len(plan["tensor_plan"][0]["sources"]) == 3


def test_errors_are_one_line(tmp_path, write_config, capsys):
    bad = write_config({"merge_method": "soup", "models": [{"model": "a"}]})
    code, out, err = run(["merge", str(bad), "--out", str(tmp_path / "out")], capsys)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "unknown merge_method 'soup'; supported:" in err
    code, _, err = run(["merge", str(bad)], capsys)
    assert code == 1 and "pass --out DIR" in err
