"""The search loop: CMA-ES (Optuna's CmaEsSampler) over the recipe's numbers, every candidate merged and scored,
trials kept in Optuna's SQLite storage so a killed search resumes where it stopped.

    result = run_merge_search("search.yaml", "out/search")
    result.best.value, result.recipe_path          # the best recipe as a plain mergekit YAML

Resuming: trials that finished (scored, or failed with an error) are never run again and count against the trial
budget; a trial that was running when the search was killed is run again first. The first trial of a new search
is the recipe as written (its own values, clipped to the bounds), so the search's best is never worse on the dev
split than the recipe it started from.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ....errors import ConfigError, LlmoptError
from ....paths import atomic_write_text
from .config import MergeSearchConfig, load_search_config
from .objective import Evaluate, aggregate, task_evaluator
from .space import SearchSpace, build_space

STUDY = "merge-search"
# params -> (objective, {task: score}); raises LlmoptError for a candidate that cannot be scored
Objective = Callable[[dict[str, float]], tuple[float, dict[str, float]]]
Event = Callable[[str, dict[str, Any]], None]
GIVE_UP_AFTER = 3  # failed trials in a row, none scored: the recipe itself is broken, stop and say why


@dataclass
class TrialRecord:
    """One candidate: its values, objective and per-task scores (or why it failed)."""

    number: int
    state: str  # complete, failed, interrupted (run again on resume), running
    params: dict[str, float]
    value: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    seconds: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.number, "state": self.state, "value": self.value, "scores": self.scores,
                "params": self.params, "seconds": self.seconds, "error": self.error}


@dataclass
class SearchOutcome:
    """What optimise() did: every trial so far, the best, and why it stopped."""

    trials: list[TrialRecord]
    best: TrialRecord | None
    stopped: str  # "trials", "seconds", "interrupted"
    ran: int  # trials run by this call (the others were finished before: resumed)


@dataclass
class MergeSearchResult:
    """The searched recipe, where it was written, and every trial."""

    best: TrialRecord | None
    start: TrialRecord | None  # the recipe as written (trial 0)
    recipe: dict | None  # the best recipe (a mergekit mapping)
    trials: list[TrialRecord]
    stopped: str
    ran: int
    out_dir: Path
    recipe_path: Path | None
    trials_path: Path
    model_dir: Path | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.best.to_dict() if self.best else None,
                "start": self.start.to_dict() if self.start else None, "recipe": self.recipe,
                "stopped": self.stopped, "ran": self.ran, "trials": [t.to_dict() for t in self.trials],
                "out_dir": str(self.out_dir), "recipe_path": str(self.recipe_path) if self.recipe_path else None,
                "trials_path": str(self.trials_path), "model_dir": str(self.model_dir) if self.model_dir else None,
                "seconds": round(self.seconds, 3)}


# -- the generic loop ---------------------------------------------------------------------------------------------

def open_study(storage: str, space: SearchSpace, *, seed: int = 0, popsize: int | None = None,
               fingerprint: str = ""):
    """The study in `storage` (created, or loaded to resume); a study over a different search is refused."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.CmaEsSampler(seed=seed, popsize=popsize, n_startup_trials=1,
                                               warn_independent_sampling=False)
    kwargs = {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else {}
    study = optuna.create_study(study_name=STUDY, storage=optuna.storages.RDBStorage(storage, engine_kwargs=kwargs),
                                direction="maximize", sampler=sampler, load_if_exists=True)
    known = study.user_attrs.get("fingerprint")
    if known is None:
        study.set_user_attr("fingerprint", fingerprint)
        study.set_user_attr("dimensions", [d.name for d in space.dimensions])
    elif known != fingerprint:
        raise ConfigError(f"{storage} holds a search over a different recipe, space or tasks; pass a new output "
                          "folder, or overwrite=True (--overwrite) to start again")
    return study


def distributions(space: SearchSpace) -> dict[str, Any]:
    from optuna.distributions import FloatDistribution

    return {d.name: FloatDistribution(d.low, d.high, log=d.log) for d in space.dimensions}


def optimise(space: SearchSpace, objective: Objective, *, storage: str, trials: int | None = 20,
             seconds: float | None = None, seed: int = 0, popsize: int | None = None, fingerprint: str = "",
             on_event: Event | None = None) -> SearchOutcome:
    """Maximise objective over space until `trials` trials have finished (in all, resumed ones included) or
    `seconds` of this call have passed (checked between trials). Ctrl-C stops after marking the running trial
    for a re-run."""
    from optuna.trial import TrialState

    if trials is None and seconds is None:
        raise ConfigError("give the search a budget: trials, seconds, or both")
    emit = on_event or (lambda kind, info: None)
    study = open_study(storage, space, seed=seed, popsize=popsize, fingerprint=fingerprint)
    _requeue_interrupted(study)
    if not study.get_trials(deepcopy=False):
        study.enqueue_trial(space.start())
    fixed = distributions(space)
    started, ran, failures, stopped = time.monotonic(), 0, 0, "trials"
    while True:
        done = _finished(study)
        if trials is not None and done >= trials:
            break
        if seconds is not None and time.monotonic() - started >= seconds:
            stopped = "seconds"
            break
        trial = study.ask(fixed)
        emit("start", {"trial": trial.number, "done": done, "total": trials, "params": dict(trial.params)})
        began = time.perf_counter()
        try:
            value, scores = objective(dict(trial.params))
        except KeyboardInterrupt:
            _interrupt(study, trial)
            stopped = "interrupted"
            break
        except LlmoptError as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            trial.set_user_attr("seconds", time.perf_counter() - began)
            study.tell(trial, state=TrialState.FAIL)
            failures += 1
            ran += 1
            emit("trial", _record(study._storage.get_trial(trial._trial_id)).to_dict())
            if failures >= GIVE_UP_AFTER and not _complete(study):
                raise
            continue
        trial.set_user_attr("scores", scores)
        trial.set_user_attr("seconds", time.perf_counter() - began)
        study.tell(trial, value)
        failures, ran = 0, ran + 1
        emit("trial", _record(study._storage.get_trial(trial._trial_id)).to_dict())
    records = [_record(t) for t in study.get_trials(deepcopy=False)]
    scored = [r for r in records if r.state == "complete"]
    best = max(scored, key=lambda r: (r.value, -r.number)) if scored else None
    return SearchOutcome(records, best, stopped, ran)


def _finished(study) -> int:
    from optuna.trial import TrialState

    return sum(1 for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
               if not t.user_attrs.get("interrupted"))


def _complete(study) -> bool:
    from optuna.trial import TrialState

    return bool(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def _interrupt(study, trial) -> None:
    """Fail a trial that was stopped before it scored and queue its values again: the next run re-runs it."""
    from optuna.trial import TrialState

    study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
    study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    if trial.params:  # a trial killed before its values were drawn has none to run again
        study.enqueue_trial(dict(trial.params), skip_if_exists=False)


def _requeue_interrupted(study) -> None:
    """Trials a killed search left RUNNING (one process per output folder: the folder lock says so)."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        _interrupt(study, trial)


def _record(trial) -> TrialRecord:
    from optuna.trial import TrialState

    if trial.state == TrialState.COMPLETE:
        state = "complete"
    elif trial.state == TrialState.FAIL:
        state = "interrupted" if trial.user_attrs.get("interrupted") else "failed"
    else:
        state = "waiting" if trial.state == TrialState.WAITING else "running"
    params = dict(trial.params) or dict(trial.system_attrs.get("fixed_params", {}))
    return TrialRecord(trial.number, state, params, trial.value if state == "complete" else None,
                       dict(trial.user_attrs.get("scores", {})), trial.user_attrs.get("seconds"),
                       trial.user_attrs.get("error"))


# -- merge search: the recipe, merged and scored ---------------------------------------------------------------------

def merge_objective(space: SearchSpace, evaluate: Evaluate, work: Path, *, weights: dict[str, float] | None = None,
                    how: str = "mean", seed: int = 0, base_dir: Path | None = None) -> Objective:
    """Each candidate merged into `work` (replaced trial after trial) and scored by `evaluate`."""
    from ..run import run_merge

    def objective(values: dict[str, float]) -> tuple[float, dict[str, float]]:
        recipe = anchored(space.recipe_for(values), base_dir)
        run_merge(recipe, work, overwrite=True, seed=seed)
        scores = evaluate(work)
        return aggregate(scores, weights, how), scores

    return objective


def run_merge_search(config: Union[str, Path, dict, MergeSearchConfig], out_dir: Union[str, Path], *,
                     evaluate: Evaluate | None = None, save_model: bool = False, overwrite: bool = False,
                     on_event: Event | None = None, **overrides: Any) -> MergeSearchResult:
    """Search the recipe's numbers (config.search) for the best score on config.tasks (or `evaluate`: a merged
    folder -> {task: score}); write OUT/best.yaml (a plain mergekit recipe), OUT/trials.jsonl and .csv, and with
    save_model the best merge in OUT/best-model. overrides: trials=, seconds=, seed=, popsize= over the config."""
    started = time.perf_counter()
    settings = load_search_config(config, **overrides)
    recipe = settings.recipe_dict()
    base_dir = Path(settings.recipe).resolve().parent if isinstance(settings.recipe, Path) else None
    space = build_space(recipe, list(settings.search))
    evaluate = evaluate or task_evaluator(list(settings.tasks))
    _check_recipe(space, base_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        if overwrite:
            for name in ("search.db", "best.yaml", "trials.jsonl", "trials.csv"):
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(out / "best-model", ignore_errors=True)
        weights = {t.label: t.weight for t in settings.tasks}
        objective = merge_objective(space, evaluate, out / "candidate", weights=weights, how=settings.aggregate,
                                    seed=settings.seed, base_dir=base_dir)

        def event(kind: str, info: dict[str, Any]) -> None:
            if kind == "trial":
                _write_trials(out, _records(out))
            if on_event:
                on_event(kind, info)

        outcome = optimise(space, objective, storage=f"sqlite:///{(out / 'search.db').resolve()}",
                           trials=settings.trials, seconds=settings.seconds, seed=settings.seed,
                           popsize=settings.popsize, fingerprint=_fingerprint(settings, recipe, space),
                           on_event=event)
        shutil.rmtree(out / "candidate", ignore_errors=True)
        _write_trials(out, outcome.trials)
        best_recipe = space.recipe_for(outcome.best.params) if outcome.best else None
        recipe_path = model_dir = None
        if best_recipe is not None:
            import yaml

            recipe_path = out / "best.yaml"
            atomic_write_text(recipe_path, yaml.safe_dump(best_recipe, sort_keys=False))
            if save_model:
                from ..run import run_merge

                on_event and on_event("save", {"out": str(out / "best-model")})
                run_merge(anchored(best_recipe, base_dir), out / "best-model", overwrite=True, seed=settings.seed)
                model_dir = out / "best-model"
    start = next((t for t in outcome.trials if t.number == 0), None)
    return MergeSearchResult(outcome.best, start, best_recipe, outcome.trials, outcome.stopped, outcome.ran, out,
                             recipe_path, out / "trials.jsonl", model_dir, time.perf_counter() - started)


def _check_recipe(space: SearchSpace, base_dir: Path | None) -> None:
    """Plan (headers only) the recipe at its start and at both corners of the box: a bad model path, an unknown
    parameter or a value the method refuses is one error now, not a failed trial later."""
    from ..run import run_merge

    corners = [space.start(), {d.name: d.low for d in space.dimensions}, {d.name: d.high for d in space.dimensions}]
    for values in corners:
        run_merge(anchored(space.recipe_for(values), base_dir), dry_run=True)


def anchored(recipe: dict, base_dir: Path | None) -> dict:
    """Model paths of a recipe read from a file resolve as `llmopt merge FILE` resolves them: as given when that
    exists, else beside the file."""
    if base_dir is None:
        return recipe

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str) and not Path(node).exists() and (base_dir / node).exists():
            return str(base_dir / node)
        return node

    return walk(recipe)


def _fingerprint(settings: MergeSearchConfig, recipe: dict, space: SearchSpace) -> str:
    what = {"recipe": recipe, "dimensions": [[d.name, d.low, d.high, d.log] for d in space.dimensions],
            "tasks": [[t.label, str(t.data), t.metric, t.weight] for t in settings.tasks],
            "aggregate": settings.aggregate, "seed": settings.seed, "popsize": settings.popsize}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(out: Path):
    """One search per output folder (two would share the study and the candidate folder)."""
    fd = os.open(out / ".merge-search.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another merge search is running in {out}; wait for it or pass another --out") from None
        yield
    finally:
        os.close(fd)


def _records(out: Path) -> list[TrialRecord]:
    import optuna

    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{(out / 'search.db').resolve()}")
    return [_record(t) for t in study.get_trials(deepcopy=False)]


def _write_trials(out: Path, records: list[TrialRecord]) -> None:
    """trials.jsonl (one object per trial) and trials.csv (one column per task score and searched value)."""
    records = [r for r in records if r.state in ("complete", "failed")]
    atomic_write_text(out / "trials.jsonl", "".join(json.dumps(r.to_dict()) + "\n" for r in records))
    tasks = list(dict.fromkeys(k for r in records for k in r.scores))
    params = list(dict.fromkeys(k for r in records for k in r.params))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["trial", "state", "value"] + tasks + params + ["seconds", "error"])
    for r in records:
        writer.writerow([r.number, r.state, r.value] + [r.scores.get(t) for t in tasks]
                        + [r.params.get(p) for p in params] + [r.seconds, r.error or ""])
    atomic_write_text(out / "trials.csv", buffer.getvalue())
