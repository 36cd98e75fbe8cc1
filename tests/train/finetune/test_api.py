"""End-to-end fine-tuning on a tiny random Llama: loss goes down, LoRA touches only adapters, resume is exact."""

import json

import pytest
import torch
from safetensors.torch import load_file

from llmopt.train.finetune import finetune
from llmopt.train.finetune.quality import EvalOverlapError
from llmopt.types import Chunk, Hit

from .conftest import arithmetic_rows, write_jsonl


def settings(tiny_model, train, evaluation, out, **extra):
    base = {"model": f"hf:{tiny_model}", "data": str(train), "eval": str(evaluation), "out": str(out),
            "max_steps": 6, "batch_size": 8, "learning_rate": 3e-3, "eval_generate": 2, "save_steps": 0}
    return {**base, **extra}


def test_full_finetuning_lowers_the_loss_and_serves(tiny_model, task_files, tmp_path):
    result = finetune(settings(tiny_model, *task_files, tmp_path / "full", method="full"))
    summary = result.summary()
    assert {"out", "steps", "train_tokens", "tokens_per_s", "eval_loss_before", "eval_loss_after"} <= set(summary)
    assert summary["steps"] == 6 and summary["train_tokens"] > 0
    assert result.eval_loss_after < result.eval_loss_before - 0.3
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert set(result.eval_after.scores) == {"em", "f1"}
    assert json.loads((tmp_path / "full" / "finetune_result.json").read_text())["steps"] == 6
    assert (tmp_path / "full" / "report" / "report.md").is_file()
    from llmopt import get_model

    served = get_model(f"hf:{tmp_path / 'full'}", cache=False)
    assert served.generate("What is 2 plus 3?", max_tokens=3).completion_tokens >= 1


def test_lora_trains_only_the_adapter_and_merges(tiny_model, task_files, tmp_path):
    out = tmp_path / "lora"
    result = finetune(settings(tiny_model, *task_files, out, method="lora", merge_lora=True, max_steps=3))
    assert 0 < result.trainable_params < result.total_params / 5
    base = load_file(str(tiny_model / "model.safetensors"))
    adapter = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    assert adapter and all("lora_" in name for name in adapter)
    assert any(v.abs().sum() > 0 for k, v in adapter.items() if "lora_B" in k)  # B starts at zero: it trained
    merged = load_file(str(out / "model.safetensors"))
    changed = [k for k in base if not torch.equal(base[k], merged[k])]
    assert changed and all(k.endswith("proj.weight") for k in changed)  # only adapted linear layers move
    assert result.eval_loss_after < result.eval_loss_before


def test_resume_continues_exactly_from_the_checkpoint(tiny_model, task_files, tmp_path):
    straight = finetune(settings(tiny_model, *task_files, tmp_path / "a", method="full", eval_generate=0))

    def crash_after_step_2(event, info):
        if event == "step" and info["step"] == 3:
            raise KeyboardInterrupt  # the checkpoint of step 2 is already on disk

    crashed = settings(tiny_model, *task_files, tmp_path / "b", method="full", eval_generate=0, save_steps=2)
    with pytest.raises(KeyboardInterrupt):
        finetune(crashed, on_progress=crash_after_step_2)
    assert (tmp_path / "b" / "checkpoints" / "step-000002" / "state.json").is_file()
    resumed = finetune({**crashed, "resume": True})
    assert resumed.steps == 6 and len(resumed.history) == 6
    a, b = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert resumed.eval_loss_before == straight.eval_loss_before


def test_training_data_overlapping_the_eval_set_is_refused(tiny_model, tmp_path):
    rows = arithmetic_rows(20)
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    evaluation = write_jsonl(tmp_path / "eval.jsonl", rows[:2])
    with pytest.raises(EvalOverlapError, match="overlap the evaluation set"):
        finetune(settings(tiny_model, train, evaluation, tmp_path / "x"))


class OneDocRetriever:
    def search(self, query, k=5, filters=None):
        chunk = Chunk(chunk_id="c1", text=f"Fact sheet for: {query}", source="facts.md")
        return [Hit(chunk, 1.0, 1)]


def test_retrieval_augmented_prompts_put_documents_before_the_question(tiny_model, task_files, tmp_path):
    seen = []
    from llmopt.train.finetune import prepare as prepare_module

    original = prepare_module.tokenize_all

    def spy(examples, *args):
        seen.extend(examples)
        return original(examples, *args)

    prepare_module.tokenize_all = spy
    try:
        finetune(settings(tiny_model, *task_files, tmp_path / "rag", max_steps=1, eval_generate=0),
                 retriever=OneDocRetriever())
    finally:
        prepare_module.tokenize_all = original
    prompt = seen[0].question
    assert "Fact sheet for: Item" in prompt and prompt.index("Fact sheet") < prompt.rindex("what is")
    assert seen[0].extra["rag_chunks"] == ["c1"]


@pytest.mark.parametrize("which", ["data", "eval"])
def test_a_missing_data_file_fails_before_the_model_is_loaded(tmp_path, which):
    from llmopt.errors import InputError
    from llmopt.train.distill import distill

    train = write_jsonl(tmp_path / "train.jsonl", arithmetic_rows(4))
    files = {"data": str(train), "eval": str(train), which: str(tmp_path)}  # a folder, not a file
    # the model does not exist either: the data must be checked first, before minutes of loading
    with pytest.raises(InputError, match=f"data file {tmp_path} is a folder"):
        finetune({"model": f"hf:{tmp_path / 'no-model'}", "out": str(tmp_path / "o"), **files})
    with pytest.raises(InputError, match=f"data file {tmp_path} is a folder"):
        distill({"teacher": f"hf:{tmp_path / 'no-model'}", "student": f"hf:{tmp_path / 'no-model'}",
                 "out": str(tmp_path / "d"), **files})
