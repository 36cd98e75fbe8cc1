import pytest

from llmopt.errors import InputError
from llmopt.testing import tiny_tokenizer
from llmopt.train.finetune.data import parse_row
from llmopt.train.finetune.template import IGNORE, Renderer


def trained_text(renderer, example):
    row = renderer.tokenize(example)
    pieces, current = [], []
    for token, label in zip(row.input_ids, row.labels):
        if label != IGNORE:
            current.append(token)
        elif current:
            pieces.append(renderer.tokenizer.decode(current))
            current = []
    if current:
        pieces.append(renderer.tokenizer.decode(current))
    return row, pieces


def test_loss_covers_the_answer_and_its_end_of_turn_only():
    renderer = Renderer(tiny_tokenizer())
    example = parse_row('{"prompt": "What is 2 plus 3?", "completion": "The answer is 5."}', "f:1")
    row, pieces = trained_text(renderer, example)
    assert pieces == ["The answer is 5.<|im_end|>"]
    prompt = renderer.prompt_ids(example)
    assert row.input_ids[: len(prompt)] == prompt  # the model reads exactly what it is served
    assert all(label == IGNORE for label in row.labels[: len(prompt)])


def test_every_assistant_turn_is_trained_and_system_prompt_is_added():
    renderer = Renderer(tiny_tokenizer(), system_prompt="Be brief.")
    example = parse_row('{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},'
                        ' {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye"}]}', "f:1")
    row, pieces = trained_text(renderer, example)
    assert pieces == ["Hello<|im_end|>", "Goodbye<|im_end|>"]
    assert renderer.tokenizer.decode(row.input_ids).startswith("<|im_start|>system\nBe brief.")


def test_full_loss_and_raw_template():
    example = parse_row('{"prompt": "Q: 2+3?", "completion": " A: 5"}', "f:1")
    full = Renderer(tiny_tokenizer(), completion_only=False).tokenize(example)
    assert full.labels == full.input_ids
    raw = Renderer(tiny_tokenizer(), template="raw")
    row, pieces = trained_text(raw, example)
    assert raw.tokenizer.decode(row.input_ids) == "Q: 2+3? A: 5<|im_end|>" and pieces == [" A: 5<|im_end|>"]
    chat_only = parse_row('{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}', "f:9")
    with pytest.raises(InputError, match="f:9"):
        raw.tokenize(chat_only)
