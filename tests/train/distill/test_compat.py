import pytest

from llmopt.testing import make_tiny_llama
from llmopt.train.distill import distill
from llmopt.train.distill.compat import TokenizerMismatchError, check_tokenizers
from llmopt.train.finetune.modelio import load_tokenizer


def test_a_tokenizer_mismatch_is_refused_with_a_pointer_to_seq(teacher, tmp_path, prompts_file):
    other = make_tiny_llama(tmp_path / "other", vocab_size=384)  # another vocabulary
    with pytest.raises(TokenizerMismatchError, match="--loss seq"):
        check_tokenizers(load_tokenizer(str(teacher)), load_tokenizer(str(other)))
    check_tokenizers(load_tokenizer(str(teacher)), load_tokenizer(str(teacher)))  # same tokenizer: fine
    with pytest.raises(TokenizerMismatchError, match="do not share a tokenizer"):
        distill({"teacher": f"hf:{teacher}", "student": f"hf:{other}", "data": str(prompts_file), "loss": "fkl",
                 "out": str(tmp_path / "out")})
    assert not (tmp_path / "out" / "teacher_topk").exists()  # refused before any teacher work
