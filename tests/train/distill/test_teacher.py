"""The teacher's answers are cached one line per answer, so a crashed run resumes without asking again."""

import llmopt.models.registry as registry
from llmopt.testing import FakeLLM
from llmopt.train.distill.teacher import teacher_answers

PROMPTS = [[{"role": "user", "content": f"question {i}?"}] for i in range(3)]


def test_an_answer_cut_short_by_a_crash_is_asked_again_once(tmp_path, monkeypatch):
    teacher = FakeLLM(lambda prompt, params: "answer")
    monkeypatch.setattr(registry, "get_model", lambda spec="default", cache=True: teacher)
    cache = tmp_path / "teacher_answers.jsonl"
    first = teacher_answers("fake:t", PROMPTS, cache, max_new_tokens=8, batch_size=2)
    assert [a["answer"] for a in first] == ["answer"] * 3 and len(teacher.calls) == 3
    text = cache.read_text()
    cache.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 1] + text.splitlines()[-1][:15])  # torn last line
    teacher_answers("fake:t", PROMPTS, cache, max_new_tokens=8, batch_size=2)
    assert len(teacher.calls) == 4  # only the torn answer is asked again
    assert teacher_answers("fake:t", PROMPTS, cache, max_new_tokens=8, batch_size=2) == first
    assert len(teacher.calls) == 4  # and it was kept, not glued onto the torn line


def test_a_damaged_topk_shard_is_set_aside_and_recomputed_without_overwriting_a_live_one(tmp_path):
    import pytest
    import torch

    from llmopt.train.distill.losses import SparseTeacher
    from llmopt.train.distill.teacher import TopKCache

    def sparse(value):
        return SparseTeacher(torch.full((2, 3), value, dtype=torch.long), torch.zeros(2, 3))

    settings = dict(k=3, temperature=1.0, teacher="t", vocab=10)
    cache = TopKCache(tmp_path, **settings)
    for key in ("a", "b", "c"):
        cache.add({key: sparse(ord(key))})
    (tmp_path / "shard-00001.safetensors").write_bytes(b"\x00garbage")
    with pytest.warns(UserWarning, match="shard-00001.safetensors is unreadable"):
        reopened = TopKCache(tmp_path, **settings)
    assert sorted(reopened.entries) == ["a", "c"] and (tmp_path / "shard-00001.safetensors.damaged").is_file()
    reopened.add({"b": sparse(ord("b"))})  # the recomputed entry goes to a new shard, shard 2 ("c") stays
    again = TopKCache(tmp_path, **settings)
    assert sorted(again.entries) == ["a", "b", "c"] and int(again.entries["c"].ids[0, 0]) == ord("c")
    (tmp_path / "meta.json").write_text("{not json")
    assert TopKCache(tmp_path, **settings).entries == {}  # an unreadable meta file: start over, no traceback
