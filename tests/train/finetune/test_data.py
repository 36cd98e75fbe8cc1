import pytest

from llmopt.errors import InputError
from llmopt.train.finetune.data import holdout_split, parse_row, read_examples


def test_messages_and_prompt_completion_rows_parse():
    chat = parse_row('{"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]}', "f:1")
    pc = parse_row('{"prompt": "2+2?", "completion": "4", "answer": ["4", "four"]}', "f:2")
    assert chat.question == "Hi?" and chat.answer == "Hello." and chat.golds == ["Hello."]
    assert pc.prompt_messages == [{"role": "user", "content": "2+2?"}] and pc.answer == "4"
    assert pc.golds == ["4", "four"] and pc.raw_prompt == "2+2?" and pc.raw_completion == "4"


def test_bad_rows_name_their_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n{not json\n')
    with pytest.raises(InputError, match="train.jsonl:2"):
        read_examples(path)
    with pytest.raises(InputError, match="no answer to train on"):
        parse_row('{"prompt": "a"}', "x:1")
    with pytest.raises(InputError, match="role"):
        parse_row('{"messages": [{"role": "robot", "content": "a"}]}', "x:1")
    assert not parse_row('{"prompt": "a"}', "x:1", require_answer=False).has_answer


def test_holdout_split_is_deterministic_and_disjoint():
    rows = [parse_row(f'{{"prompt": "q{i}", "completion": "a{i}"}}', f"f:{i}") for i in range(20)]
    train, held = holdout_split(rows, 0.2, seed=3)
    again = holdout_split(rows, 0.2, seed=3)
    assert len(held) == 4 and len(train) == 16
    assert {e.where for e in train}.isdisjoint({e.where for e in held})
    assert [e.where for e in held] == [e.where for e in again[1]]
