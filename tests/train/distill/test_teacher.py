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
