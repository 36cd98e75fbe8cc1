import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmopt.eval.grid import point
from llmopt.jsonl import read_jsonl
from llmopt.optimize import Budget, Candidate, Limits, Space, choose, front, promote, run_search, rungs

from .synthetic import QUESTIONS, Synthetic, cost, quality, space

HERE = Path(__file__).parent


def test_rungs_grow_by_eta_and_end_at_the_whole_split():
    assert rungs(60, first=4, eta=3) == [4, 12, 36, 60]
    assert rungs(36, first=4, eta=3) == [4, 12, 36]
    assert rungs(3, first=5, eta=3) == [3]
    with pytest.raises(ValueError):
        rungs(0, first=4, eta=3)


def test_promote_keeps_the_best_third_and_breaks_ties_by_cost():
    scores = {"a": 0.5, "b": 0.9, "c": 0.5, "d": 0.1, "e": 0.7, "f": 0.6}
    assert promote(scores, 3) == ["b", "e"]
    assert promote({"a": 0.5, "b": 0.5, "c": 0.1}, 3, tie_break={"a": 9.0, "b": 1.0}) == ["b"]
    assert promote({"a": 0.0}, 3) == ["a"]


def cand(key, q, usd, lat=1.0, low=None, ctx=100.0):
    return Candidate(key, key, q, q - 0.1 if low is None else low, q + 0.1, usd_per_query=usd, p95_latency_s=lat,
                     context_tokens=ctx, count=50)


def test_front_drops_dominated_configurations():
    cs = [cand("cheap", 0.3, 0.001), cand("mid", 0.5, 0.002), cand("dominated", 0.4, 0.003), cand("top", 0.6, 0.01)]
    assert [c.key for c in front(cs)] == ["cheap", "mid", "top"]


def test_choose_best_within_limits_cheapest_reaching_and_nearest_when_none_fit():
    cs = [cand("cheap", 0.3, 0.001, lat=1), cand("mid", 0.5, 0.002, lat=2, low=0.45), cand("top", 0.6, 0.01, lat=9)]
    assert choose(cs, Limits()).chosen.key == "top"
    assert choose(cs, Limits(p95_latency_s=3)).chosen.key == "mid"
    assert choose(cs, Limits(), threshold=0.4).chosen.key == "mid"
    none = choose(cs, Limits(p95_latency_s=0.5))
    assert none.chosen is None and none.nearest and "p95 latency" in none.nearest[0][1][0]
    broken = Candidate("broken", "broken", 0.9, 0.8, 1.0, count=10, errors=6)
    assert choose(cs + [broken], Limits()).chosen.key == "top"  # most of its answers failed
    assert choose([broken], Limits()).nearest[0][1] == ["6 of 10 answers failed"]
    unreachable = choose(cs, Limits(), threshold=0.9)
    assert unreachable.chosen is None and "CI lower bound" in unreachable.nearest[0][1][0]


def test_space_from_axes_is_canonical_and_round_trips_through_params():
    s = space()
    keys = [p.key for p in s.points]
    assert len(keys) == len(set(keys))
    assert sum(p.strategy == "none" for p in s.points) == 1  # one baseline, whatever k and m
    assert not any(p.strategy == "drag" and p.m == 0 for p in s.points)  # DRAG with m=0 is RAG
    import optuna

    study = optuna.create_study(direction="maximize")
    for p in s.points:
        study.enqueue_trial(s.params(p))
        assert s.suggest(study.ask()).key == p.key


def test_search_finds_the_known_optimum_and_spends_a_fraction_of_the_grid(tmp_path):
    s = space()
    evaluator = Synthetic(tmp_path / "results.jsonl")
    outcome = run_search(s, QUESTIONS, evaluator, storage=str(tmp_path / "search.journal"), first=4, eta=3)
    grid_compute = sum(cost(p) for p in s.points) * len(QUESTIONS)
    assert outcome.stopped is None
    assert evaluator.touched.compute_s < 0.4 * grid_compute
    assert sum(t.state == "pruned" for t in outcome.trials) >= len(s) // 2
    assert {t.key for t in outcome.settled()} == {p.key for p in s.points}  # the space was screened whole
    best = max(s.points, key=quality)
    # the optimum (or one within its noise on 60 questions) is among the finalists
    assert any(quality(f) >= quality(best) - 0.06 for f in outcome.finalists)
    assert quality(outcome.finalists[0]) > 0.5
    # every (configuration, question) answered once
    rows = list(read_jsonl(tmp_path / "results.jsonl"))
    assert len(rows) == len({(r["key"], r["id"]) for r in rows}) == evaluator.calls


def test_a_rerun_answers_nothing_again(tmp_path):
    run_search(space(), QUESTIONS, Synthetic(tmp_path / "r.jsonl"), storage=str(tmp_path / "s.journal"))
    again = Synthetic(tmp_path / "r.jsonl")
    outcome = run_search(space(), QUESTIONS, again, storage=str(tmp_path / "s.journal"))
    assert again.calls == 0 and outcome.finalists


def test_a_failing_endpoint_marks_its_configurations_failed_and_the_search_goes_on(tmp_path):
    s = Space.from_axes(models=["default", "openai:m@http://127.0.0.1:9"], prompts=["basic"],
                        strategies=["rag"], k=[1, 3, 5], m=[0], n=[1])
    evaluator = Synthetic(tmp_path / "r.jsonl", fail_models=("openai:m@http://127.0.0.1:9",))
    outcome = run_search(s, QUESTIONS, evaluator, storage=str(tmp_path / "s.journal"))
    failed = [t for t in outcome.trials if t.state == "failed"]
    assert len(failed) == 3 and all("connection refused" in t.error for t in failed)
    assert outcome.finalists and all(f.model == "default" for f in outcome.finalists)


def test_the_budget_stops_screening_and_a_rerun_continues(tmp_path):
    evaluator = Synthetic(tmp_path / "r.jsonl")
    outcome = run_search(space(), QUESTIONS, evaluator, storage=str(tmp_path / "s.journal"),
                         budget=Budget(dollars=0.01))
    assert outcome.stopped == "budget ($0.01)"
    assert 0 < evaluator.calls and 0.01 <= evaluator.spent.cost_usd < 0.01 + 0.01
    again = Synthetic(tmp_path / "r.jsonl")
    done = run_search(space(), QUESTIONS, again, storage=str(tmp_path / "s.journal"))
    assert done.stopped is None and done.finalists
    rows = list(read_jsonl(tmp_path / "r.jsonl"))
    assert len(rows) == len({(r["key"], r["id"]) for r in rows})


def test_resume_after_sigkill_evaluates_no_configuration_question_twice(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(HERE.parent.parent)}
    cmd = [sys.executable, "-m", "tests.optimize.synthetic", str(tmp_path), "--sleep", "0.02"]
    proc = subprocess.Popen(cmd, cwd=HERE.parent.parent, env=env)
    results = tmp_path / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not results.exists() or len(results.read_text().splitlines()) < 40):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(results.read_text().splitlines())
    assert 40 <= before and not (tmp_path / "outcome.json").exists()
    subprocess.run(cmd[:4], cwd=HERE.parent.parent, env=env, check=True, timeout=120)
    rows = list(read_jsonl(results))
    assert len(rows) == len({(r["key"], r["id"]) for r in rows})  # nothing answered twice
    outcome = json.loads((tmp_path / "outcome.json").read_text())
    assert outcome["finalists"] and outcome["calls"] == len(rows) - before


def test_ctrl_c_stops_screening_with_what_was_answered_kept(tmp_path):
    class Interrupted(Synthetic):
        def answer(self, config, item):
            if self.calls == 30:
                raise KeyboardInterrupt
            return super().answer(config, item)

    first = Interrupted(tmp_path / "r.jsonl")
    outcome = run_search(space(), QUESTIONS, first, storage=str(tmp_path / "s.journal"))
    assert outcome.stopped == "interrupted" and first.calls == 30
    assert len(list(read_jsonl(tmp_path / "r.jsonl"))) == 30
    again = Synthetic(tmp_path / "r.jsonl")
    done = run_search(space(), QUESTIONS, again, storage=str(tmp_path / "s.journal"))
    assert done.stopped is None and done.finalists
    rows = list(read_jsonl(tmp_path / "r.jsonl"))
    assert len(rows) == len({(r["key"], r["id"]) for r in rows})


def test_the_allocation_model_proposes_untried_configurations_it_predicts_best():
    from llmopt.optimize.propose import allocation_proposer
    from llmopt.optimize.study import TrialRecord

    s = Space.from_axes(models=["default"], prompts=["basic"], strategies=["rag"], k=[1, 2, 3, 4, 6, 8], m=[0],
                        n=[1])
    tried = {1: 0.2, 2: 0.3, 3: 0.4, 4: 0.45}  # quality rising with k
    records = [TrialRecord(p.key, p.label(), "pruned", 12, tried[p.k]) for p in s.points if p.k in tried]
    proposed = allocation_proposer(s, top=2)(records)
    assert [p.k for p in proposed] == [8, 6]
    assert allocation_proposer(s)(records[:1]) == []  # too few points to fit: the sampler decides


def test_later_brackets_start_with_the_proposals(tmp_path):
    s = space()
    wanted = s.points[-1]
    asked = []

    def propose(records):
        asked.append(len(records))
        return [wanted]

    outcome = run_search(s, QUESTIONS, Synthetic(tmp_path / "r.jsonl"), storage=str(tmp_path / "s.journal"),
                         bracket=10, propose=propose)
    assert asked and asked[0] >= 10  # called after the first bracket, with its trials
    first = min(t.bracket for t in outcome.trials if t.key == wanted.key)
    assert first == 1 or wanted.key in {t.key for t in outcome.trials if t.bracket == 0}
    assert outcome.brackets == 2  # 19 configurations in brackets of 10


def test_two_workers_share_one_search_without_answering_anything_twice(tmp_path):
    """Workers split a search by brackets (here 4 of 5 configurations): both take part, nothing twice."""
    env = {**os.environ, "PYTHONPATH": str(HERE.parent.parent), "SEARCH_BRACKET": "5"}
    cmd = [sys.executable, "-m", "tests.optimize.synthetic", str(tmp_path), "--sleep", "0.01"]
    workers = [subprocess.Popen(cmd, cwd=HERE.parent.parent, env=env) for _ in range(2)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0]
    rows = list(read_jsonl(tmp_path / "results.jsonl"))
    assert len(rows) == len({(r["key"], r["id"]) for r in rows})  # no configuration answered a question twice
    from llmopt.optimize.study import open_study

    trials = [t for t in open_study(str(tmp_path / "search.journal")).get_trials() if "key" in t.user_attrs]
    workers_seen = {t.user_attrs["worker"] for t in trials}
    assert len(workers_seen) == 2  # both took part
    settled = {t.user_attrs["key"] for t in trials if t.state.name in ("COMPLETE", "PRUNED")}
    assert settled == {p.key for p in space().points}


def test_a_projects_own_prices_cost_every_answer_read_back_too(tmp_path):
    from llmopt.pricing import usage_cost

    usage = {"prompt_tokens": 1000, "cached_prompt_tokens": 400, "completion_tokens": 100, "compute_s": 36.0,
             "latency_s": 72.0, "cost_usd": 123.0}
    assert usage_cost(usage, {"input": 1.0, "cached_input": 0.5, "output": 2.0}, local=False) == \
        pytest.approx((600 * 1.0 + 400 * 0.5 + 100 * 2.0) / 1e6)
    assert usage_cost(usage, {"usd_per_cpu_hour": 1.0}, local=True) == pytest.approx(0.01)
    assert usage_cost(usage, {"usd_per_gpu_hour": 10.0}, local=False) == pytest.approx(0.2)
    assert usage_cost(usage, {"input": 1.0}, local=True) is None  # nothing that prices a local engine
    config = space().points[3]
    first = Synthetic(tmp_path / "r.jsonl").records(config, QUESTIONS[:3])
    assert [r.usage["cost_usd"] for r in first] == [cost(config) * 1e-4] * 3
    repriced = Synthetic(tmp_path / "r.jsonl")
    repriced.prices = {"default": {"usd_per_cpu_hour": 3600.0}}  # one dollar per compute second
    again = repriced.records(config, QUESTIONS[:3])
    assert repriced.calls == 0 and [r.usage["cost_usd"] for r in again] == [cost(config)] * 3
    assert repriced.touched.cost_usd == pytest.approx(3 * cost(config))
