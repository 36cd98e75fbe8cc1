"""A few real fine-tuning steps on SmolLM2-135M-Instruct (the embedded default, converted to an HF folder)."""

import pytest

from llmopt.train.finetune import finetune

from .conftest import arithmetic_rows, write_jsonl


@pytest.mark.integration
@pytest.mark.slow
def test_smollm2_loss_drops_in_a_few_steps(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", arithmetic_rows(16, seed=0))
    evaluation = write_jsonl(tmp_path / "eval.jsonl", arithmetic_rows(4, seed=1, offset=1000))
    result = finetune({"model": "default", "data": str(train), "eval": str(evaluation), "method": "full",
                       "max_steps": 4, "batch_size": 4, "learning_rate": 1e-4, "eval_generate": 0,
                       "out": str(tmp_path / "out")})
    assert result.eval_loss_after < result.eval_loss_before
    assert result.history[-1]["loss"] < result.history[0]["loss"]
