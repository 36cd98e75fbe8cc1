"""Merge search (`llmopt merge-search`): recipe paths and bounds (pure), the objective, CMA-ES convergence on
synthetic objectives with a known optimum, resuming, the best recipe through `llmopt merge`, one-line errors."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from llmopt.cli.main import main
from llmopt.errors import ConfigError
from llmopt.train.merge.search import (SearchParameter, SearchSpaceError, aggregate, build_space, get_value,
                                       load_search_config, optimise, run_merge_search, set_value, split_path)

RECIPE = {"merge_method": "linear", "parameters": {"normalize": False},
          "models": [{"model": "a", "parameters": {"weight": 0.5}}, {"model": "b"}]}
W0, W1 = "models.0.parameters.weight", "models.1.parameters.weight"


def run_cli(args, capsys) -> tuple[int, str, str]:
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- the space (pure) ------------------------------------------------------------------------------------------------

def test_paths_get_and_set_without_touching_the_recipe():
    assert split_path("models.0.parameters.weight") == ("models", 0, "parameters", "weight")
    assert get_value(RECIPE, W0) == 0.5
    changed = set_value(RECIPE, W0, 0.25)
    assert get_value(changed, W0) == 0.25 and get_value(RECIPE, W0) == 0.5
    # a parameter the recipe leaves at its default can be searched: its `parameters` mapping is created
    assert get_value(set_value(RECIPE, "models.1.parameters.density", 0.4), "models.1.parameters.density") == 0.4
    assert set_value(RECIPE, "parameters.lambda", 1.2)["parameters"] == {"normalize": False, "lambda": 1.2}


@pytest.mark.parametrize("path, message", [
    ("modles.0.parameters.weight", "no key 'modles' at modles (keys there: merge_method, parameters, models)"),
    ("models.2.parameters.weight", "no entry 2 at models.2 (the list has 2: 0..1)"),
    ("models.first.parameters.weight", "models is a list; use an index 0..1 or '*'"),
    ("merge_method.x", "merge_method is a value ('linear'), not a mapping or list"),
    ("parameters.*.weight", "'*' needs a list at parameters"),
])
def test_bad_paths_are_one_line_errors(path, message):
    with pytest.raises(SearchSpaceError) as info:
        build_space(RECIPE, [SearchParameter(path=path, low=0, high=1)])
    assert message in str(info.value) and "\n" not in str(info.value)


def test_star_paths_gradients_and_the_starting_point():
    space = build_space({**RECIPE, "models": RECIPE["models"] + [{"model": "c", "parameters": {"weight": [0.0, 1.0]}}]},
                        [SearchParameter(path="models.*.parameters.weight", low=0.1, high=0.9, points=1),
                         SearchParameter(path="parameters.t", low=0, high=1, points=3)])
    names = [d.name for d in space.dimensions]
    assert names == [W0, W1, "models.2.parameters.weight", "parameters.t[0]", "parameters.t[1]", "parameters.t[2]"]
    start = space.start()
    # the recipe's own values (0.5), clipped to the bounds; the middle where it has no number (or a gradient)
    assert start == {W0: 0.5, W1: 0.5, "models.2.parameters.weight": 0.5, "parameters.t[0]": 0.5,
                     "parameters.t[1]": 0.5, "parameters.t[2]": 0.5}
    recipe = space.recipe_for({**start, "parameters.t[0]": 0.1, "parameters.t[2]": 0.9, W1: 0.7})
    assert recipe["parameters"]["t"] == [0.1, 0.5, 0.9] and recipe["models"][1]["parameters"] == {"weight": 0.7}
    gradient = build_space(space.recipe, [SearchParameter(path="models.2.parameters.weight", low=0, high=1, points=3)])
    assert gradient.start() == {"models.2.parameters.weight[0]": 0.0, "models.2.parameters.weight[1]": 0.5,
                                "models.2.parameters.weight[2]": 1.0}


def test_a_value_searched_twice_is_refused():
    with pytest.raises(SearchSpaceError, match="searched twice"):
        build_space(RECIPE, [SearchParameter(path=W0, low=0, high=1),
                             SearchParameter(path="models.*.parameters.weight", low=0, high=1)])


@pytest.mark.parametrize("entry, message", [
    ({"path": W0, "low": 1, "high": 0}, "low must be below high"),
    ({"path": W0, "low": 0, "high": 1, "log": True}, "a log-scale range needs low > 0"),
    ({"path": W0, "bounds": [0]}, "bounds must be [low, high]"),
    ({"path": "models..weight", "low": 0, "high": 1}, "is not a dotted path"),
])
def test_bad_bounds_are_one_line_config_errors(entry, message):
    with pytest.raises(ConfigError) as info:
        load_search_config({"recipe": RECIPE, "search": [entry], "trials": 3})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_compact_search_form_and_budget():
    config = load_search_config({"recipe": RECIPE, "search": {"models.*.parameters.weight": [0, 1],
                                                              "parameters.t": {"low": 0.2, "high": 0.8, "points": 2}}})
    assert [(p.path, p.low, p.high, p.points) for p in config.search] == [
        ("models.*.parameters.weight", 0, 1, 1), ("parameters.t", 0.2, 0.8, 2)]
    with pytest.raises(ConfigError, match="give a budget"):
        load_search_config({"recipe": RECIPE, "search": {W0: [0, 1]}, "trials": None})


def test_aggregate_mean_weights_min_and_nan():
    assert aggregate({"a": 0.2, "b": 0.6}) == pytest.approx(0.4)
    assert aggregate({"a": 0.2, "b": 0.6}, {"a": 3.0}) == pytest.approx(0.3)
    assert aggregate({"a": 0.2, "b": 0.6}, how="min") == 0.2
    with pytest.raises(ConfigError, match="scored NaN"):
        aggregate({"a": math.nan, "b": 0.6})
    with pytest.raises(ConfigError, match="unknown aggregate"):
        aggregate({"a": 0.1}, how="median")


# -- the loop on a pure function ---------------------------------------------------------------------------------------

def quadratic(target=(0.3, 0.8)):
    calls = []

    def objective(values):
        calls.append(dict(values))
        value = -((values[W0] - target[0]) ** 2 + (values[W1] - target[1]) ** 2)
        return value, {"quadratic": value}

    return objective, calls


def test_cma_es_converges_near_a_known_optimum(tmp_path):
    space = build_space(RECIPE, [SearchParameter(path="models.*.parameters.weight", low=0, high=1)])
    objective, calls = quadratic()
    outcome = optimise(space, objective, storage=f"sqlite:///{tmp_path / 's.db'}", trials=30, seed=0)
    assert len(calls) == 30 and outcome.stopped == "trials" and outcome.ran == 30
    assert calls[0] == {W0: 0.5, W1: 0.5}  # the recipe as written comes first
    assert abs(outcome.best.params[W0] - 0.3) < 0.1 and abs(outcome.best.params[W1] - 0.8) < 0.1
    assert outcome.best.value > outcome.trials[0].value


def test_a_resumed_search_runs_only_what_is_left(tmp_path):
    space = build_space(RECIPE, [SearchParameter(path="models.*.parameters.weight", low=0, high=1)])
    storage = f"sqlite:///{tmp_path / 's.db'}"
    objective, calls = quadratic()
    interrupted = []

    def stopped_at_the_fifth(values):
        if len(calls) == 4:
            interrupted.append(dict(values))
            raise KeyboardInterrupt
        return objective(values)

    first = optimise(space, stopped_at_the_fifth, storage=storage, trials=10, seed=0)
    assert first.stopped == "interrupted" and len(calls) == 4
    assert [t.state for t in first.trials] == ["complete"] * 4 + ["interrupted", "waiting"]  # queued again
    second = optimise(space, objective, storage=storage, trials=10, seed=0)
    assert second.ran == 6 and len(calls) == 10  # the four finished trials were not run again
    assert calls[4] == interrupted[0]  # the interrupted trial is run again, first
    assert sum(t.state == "complete" for t in second.trials) == 10
    third = optimise(space, objective, storage=storage, trials=10, seed=0)
    assert third.ran == 0 and len(calls) == 10 and third.best.value == second.best.value


def test_a_trial_left_running_by_a_killed_search_is_run_again(tmp_path):
    from llmopt.train.merge.search.run import distributions, open_study

    space = build_space(RECIPE, [SearchParameter(path="models.*.parameters.weight", low=0, high=1)])
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = open_study(storage, space)
    killed = study.ask(distributions(space))  # asked, never told: the process died mid-trial
    objective, calls = quadratic()
    outcome = optimise(space, objective, storage=storage, trials=3, seed=0)
    assert calls[0] == killed.params and len(calls) == 3
    assert [t.state for t in outcome.trials][:1] == ["interrupted"]


def test_failed_trials_are_recorded_and_a_broken_objective_stops(tmp_path):
    from llmopt.train.merge.run import MergeError

    space = build_space(RECIPE, [SearchParameter(path="models.*.parameters.weight", low=0, high=1)])
    objective, calls = quadratic()

    def sometimes(values):
        if len(calls) == 1 and not getattr(sometimes, "failed", False):
            sometimes.failed = True
            raise MergeError("NaN after the merge")
        return objective(values)

    outcome = optimise(space, sometimes, storage=f"sqlite:///{tmp_path / 'a.db'}", trials=4, seed=0)
    assert [t.state for t in outcome.trials].count("failed") == 1 and len(calls) == 3
    assert "NaN after the merge" in next(t.error for t in outcome.trials if t.state == "failed")

    def never(values):
        raise MergeError("always NaN")

    with pytest.raises(MergeError, match="always NaN"):
        optimise(space, never, storage=f"sqlite:///{tmp_path / 'b.db'}", trials=10, seed=0)


def test_a_study_over_another_space_is_not_resumed(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    objective, _ = quadratic()
    one = build_space(RECIPE, [SearchParameter(path="models.*.parameters.weight", low=0, high=1)])
    optimise(one, objective, storage=storage, trials=2, fingerprint="one")
    with pytest.raises(ConfigError, match="different recipe, space or tasks"):
        optimise(one, objective, storage=storage, trials=2, fingerprint="two")


# -- real merges of tiny models ------------------------------------------------------------------------------------------

def tensors(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.fixture
def target_search(tiny_models, tmp_path):
    """A linear merge of m1 and m2 whose score is -mean squared distance to the merge made with weights 0.3/0.8."""
    from llmopt.train.merge import run_merge

    recipe = {"merge_method": "linear", "dtype": "float32", "parameters": {"normalize": False},
              "models": [{"model": tiny_models["m1"], "parameters": {"weight": 0.5}},
                         {"model": tiny_models["m2"], "parameters": {"weight": 0.5}}]}
    target_recipe = set_value(set_value(recipe, W0, 0.3), W1, 0.8)
    run_merge(target_recipe, tmp_path / "target")
    target = tensors(tmp_path / "target")
    evaluated = []

    def evaluate(folder):
        merged = tensors(folder)
        distance = sum(float(((merged[name] - value) ** 2).mean()) for name, value in target.items()) / len(target)
        evaluated.append(distance)
        return {"closeness": -distance * 100}

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    config = {"recipe": str(path), "search": {"models.*.parameters.weight": [0, 1]}, "trials": 24, "seed": 0}
    return config, evaluate, evaluated


def test_searched_merge_of_tiny_models_finds_the_target_weights_and_writes_a_mergekit_recipe(target_search, tmp_path,
                                                                                             capsys):
    config, evaluate, evaluated = target_search
    result = run_merge_search(config, tmp_path / "search", evaluate=evaluate, save_model=True)
    assert len(evaluated) == 24 and result.stopped == "trials"
    best = result.recipe
    assert abs(get_value(best, W0) - 0.3) < 0.1 and abs(get_value(best, W1) - 0.8) < 0.1
    assert result.best.value > result.start.value
    lines = (tmp_path / "search" / "trials.jsonl").read_text().splitlines()
    assert len(lines) == 24 and json.loads(lines[0])["params"] == {W0: 0.5, W1: 0.5}
    assert (tmp_path / "search" / "trials.csv").read_text().startswith("trial,state,value,closeness,")
    # the best recipe is a plain mergekit YAML: `llmopt merge` makes exactly the model the search saved
    written = yaml.safe_load(result.recipe_path.read_text())
    assert written == best and set(written) == {"merge_method", "dtype", "parameters", "models"}
    code, _, err = run_cli(["merge", str(result.recipe_path), "--out", str(tmp_path / "again")], capsys)
    assert code == 0, err
    again, saved = tensors(tmp_path / "again"), tensors(result.model_dir)
    assert again.keys() == saved.keys() and all((again[k] == saved[k]).all() for k in again)


def test_merge_search_resumes_without_redoing_finished_trials(target_search, tmp_path):
    config, evaluate, evaluated = target_search
    first = run_merge_search({**config, "trials": 5}, tmp_path / "search", evaluate=evaluate)
    assert first.ran == 5 and len(evaluated) == 5
    second = run_merge_search({**config, "trials": 8}, tmp_path / "search", evaluate=evaluate)
    assert second.ran == 3 and len(evaluated) == 8 and len(second.trials) == 8
    assert [t.params for t in second.trials[:5]] == [t.params for t in first.trials]
    with pytest.raises(ConfigError, match="different recipe"):
        run_merge_search({**config, "search": {W0: [0, 1]}}, tmp_path / "search", evaluate=evaluate)


def test_cli_errors_are_one_line(tiny_models, tmp_path, capsys):
    recipe = {"merge_method": "linear", "models": [{"model": tiny_models["m1"]}, {"model": tiny_models["m2"]}]}
    cases = [({"search": {"models.5.parameters.weight": [0, 1]}}, "no entry 5 at models.5"),
             ({"search": {W0: [1, 0]}}, "low must be below high"),
             ({"search": {W0: [0, 1]}}, "give the search at least one task"),
             ({"search": {W0: [0, 1]}, "tasks": [{"data": str(tmp_path / "none.jsonl")}]}, "task data not found")]
    for extra, message in cases:
        path = tmp_path / "search.yaml"
        path.write_text(yaml.safe_dump({"recipe": recipe, "trials": 2, **extra}))
        code, out, err = run_cli(["merge-search", str(path), "--out", str(tmp_path / "out")], capsys)
        assert code == 1 and out == "" and message in err, err
        assert len(err.strip().splitlines()) == 1


@pytest.mark.slow  # two tiny models answered on the hf engine per trial
def test_cli_searches_with_the_task_evaluator_and_prints_one_json_object(tiny_models, tmp_path, capsys):
    dev = tmp_path / "dev.jsonl"
    dev.write_text("".join(json.dumps({"prompt": f"What is {i} plus 1?", "answer": str(i + 1)}) + "\n"
                           for i in range(2)))
    recipe = {"merge_method": "linear", "models": [{"model": tiny_models["m1"]}, {"model": tiny_models["m2"]}]}
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump({"recipe": recipe, "search": {"models.*.parameters.weight": [0.1, 1]},
                                    "tasks": [{"data": str(dev), "metric": "em", "max_tokens": 4}], "trials": 5}))
    code, out, err = run_cli(["merge-search", str(path), "--out", str(tmp_path / "out"), "--trials", "2", "--json"],
                             capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["ran"] == 2 and data["stopped"] == "trials" and [t["state"] for t in data["trials"]] == ["complete"] * 2
    assert set(data["best"]["scores"]) == {"dev"} and data["start"]["params"] == {W0: 0.55, W1: 0.55}
    assert yaml.safe_load((tmp_path / "out" / "best.yaml").read_text())["merge_method"] == "linear"
