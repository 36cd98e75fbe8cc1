"""The budgeted search: brackets of successive halving over configurations proposed by Optuna's sampler, kept in
Optuna's storage.

    result = run_search(space, questions, evaluator, storage="out/search.journal", budget=Budget(minutes=20))

- A bracket takes up to `bracket` configurations: first the enqueued proposals (the baseline, the allocation
  model's picks), then TPE's. Small spaces are screened whole in the first bracket.
- Each configuration answers the first r0 questions (a seeded shuffle of the split, the same for everyone); the
  best 1/eta answer eta times as many, and so on to the whole split (halving.rungs / promote). Every rung's mean
  score is reported to the trial, so pruned trials keep their curve; the sampler learns from them.
- Brackets repeat while the budget lasts and untried configurations remain. Then the `finalists` best
  (furthest rung, then score) answer the whole split, and the caller compares them with CIs.
- Resume: trials that were COMPLETE or PRUNED are settled; a trial left RUNNING by a crash is marked FAIL and its
  configuration tried again -- at no cost, since every answer it gave is in the evaluator's results.
- Several workers may share one storage (the journal file on one machine, a PostgreSQL URL across machines): each
  runs its own brackets (so workers split a search by brackets: a space smaller than one bracket gains nothing
  from a second worker), the sampler sees everyone's trials, and a configuration another live worker is running
  or has settled is not tried again (a RUNNING trial is only taken for a crash's leftover when its process is gone,
  or, from another machine, when it has not reported for 30 minutes).
- A configuration whose endpoint fails is marked FAIL with the error, and the search goes on without it.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import EndpointError
from ..eval.datasets import QAItem
from ..eval.grid import GridPoint
from .evaluator import BudgetSpent, Evaluator
from .halving import promote, rungs
from .space import Space

STUDY = "llmopt-search"
Event = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Budget:
    minutes: float | None = None
    dollars: float | None = None


@dataclass
class TrialRecord:
    key: str
    label: str
    state: str  # complete | pruned | failed | running
    questions: int = 0  # questions answered at its furthest rung
    score: float | None = None  # mean metric at that rung
    curve: dict[int, float] = field(default_factory=dict)  # questions -> mean metric
    error: str | None = None
    bracket: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "curve": {str(k): v for k, v in self.curve.items()}}


@dataclass
class SearchOutcome:
    trials: list[TrialRecord]
    finalists: list[GridPoint]
    rungs: list[int]
    stopped: str | None = None  # why screening ended early ("budget (...)", "interrupted"), None: space exhausted
    brackets: int = 0

    def settled(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.state in ("complete", "pruned")]


def question_order(items: Sequence[QAItem], seed: int) -> list[QAItem]:
    """The split in a seeded, id-hashed order: every rung's questions are a random sample, the same for every
    configuration and every run."""
    return sorted(items, key=lambda i: hashlib.sha256(f"search:{seed}:{i.id}".encode()).hexdigest())


def storage_for(storage: str):
    """A database URL (postgresql://..., sqlite:///...) is Optuna's RDB storage, for workers on several machines;
    a file path is Optuna's journal file (append-only, locked, shared by the processes of one machine), which
    writes a trial's steps far faster than SQLite's commit-per-step."""
    import optuna

    if "://" in storage:
        kwargs = {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else {}
        return optuna.storages.RDBStorage(storage, engine_kwargs=kwargs)
    from optuna.storages.journal import JournalFileBackend

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.JournalStorage(JournalFileBackend(storage))


def open_study(storage: str, *, seed: int = 0):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=8,
                                             constant_liar=True)
    store = storage_for(storage)
    return optuna.create_study(study_name=STUDY, storage=store, direction="maximize", sampler=sampler,
                               load_if_exists=True)


def _record(trial, space: Space) -> TrialRecord:
    from optuna.trial import TrialState

    key = trial.user_attrs.get("key", "")
    config = space.get(key)
    curve = {int(step): float(value) for step, value in trial.intermediate_values.items()}
    furthest = max(curve) if curve else 0
    state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}.get(
        trial.state, "running")
    return TrialRecord(key=key, label=config.label() if config else key, state=state, questions=furthest,
                       score=curve.get(furthest), curve=curve, error=trial.user_attrs.get("error"),
                       bracket=trial.user_attrs.get("bracket"))


def run_search(space: Space, questions: Sequence[QAItem], evaluator: Evaluator, *, storage: str,
               metric: str = "acc", budget: Budget = Budget(), first: int = 5, eta: int = 3, bracket: int = 27,
               finalists: int = 3, proposals: Sequence[GridPoint] = (), seed: int = 0,
               propose: Callable[[list[TrialRecord]], list[GridPoint]] | None = None,
               on_event: Event | None = None) -> SearchOutcome:
    """Screen the space by successive halving until the budget or the space runs out; return every trial and the
    finalists (not yet run on the whole split: the caller does that, so its answers count as the search's)."""
    from optuna.trial import TrialState

    emit = on_event or (lambda kind, info: None)
    study = open_study(storage, seed=seed)
    ordered = question_order(questions, seed)
    schedule = rungs(len(ordered), first=first, eta=eta)
    started = time.monotonic()
    spent_before = evaluator.spent.cost_usd

    def check() -> None:
        if budget.minutes is not None and time.monotonic() - started >= budget.minutes * 60:
            raise BudgetSpent(f"{budget.minutes:g} minutes")
        if budget.dollars is not None and evaluator.spent.cost_usd - spent_before >= budget.dollars:
            raise BudgetSpent(f"${budget.dollars:g}")

    failed: set[str] = set()
    stopped, brackets, empty = None, 0, 0
    queue = [p for p in proposals if space.get(p.key)]
    while True:
        busy = _fail_stale(study)  # and other workers' configurations, left to them
        settled = {t.user_attrs.get("key") for t in study.get_trials(deepcopy=False,
                                                                     states=(TrialState.COMPLETE, TrialState.PRUNED))}
        untried = [p for p in space.points if p.key not in settled and p.key not in failed and p.key not in busy]
        if not untried:
            break
        if propose and brackets:
            queue += propose([_record(t, space) for t in study.get_trials(deepcopy=False) if "key" in t.user_attrs])
        trials = _fill(study, space, untried, queue, min(bracket, len(untried)), brackets, seed)
        queue = []
        if not trials:  # every pick went to another worker: look again, a few times
            empty += 1
            if empty > 3:
                break
            time.sleep(0.2 * empty)
            continue
        empty = 0
        emit("bracket", {"number": brackets, "configs": len(trials), "rungs": schedule})
        try:
            _bracket(study, trials, ordered, schedule, evaluator, eta, metric, check, failed, emit)
        except (BudgetSpent, KeyboardInterrupt) as exc:
            stopped = f"budget ({exc})" if isinstance(exc, BudgetSpent) else "interrupted"
            for trial, _ in trials:  # tried again on the next run, at no cost for what they answered
                if study._storage.get_trial(trial._trial_id).state == TrialState.RUNNING:
                    trial.set_user_attr("error", f"stopped: {stopped}")
                    study.tell(trial, state=TrialState.FAIL)
            break
        brackets += 1
    records = [_record(t, space) for t in study.get_trials(deepcopy=False) if "key" in t.user_attrs]
    return SearchOutcome(records, _finalists(records, space, finalists), schedule, stopped, brackets)


WORKER = f"{socket.gethostname()}:{os.getpid()}:{int(time.time())}"
STALE_S = 1800  # a worker on another machine whose trial has not reported for this long is taken for dead


def _alive(worker: str | None, beat: float | None) -> bool:
    """Whether the worker that owns a RUNNING trial is still at it: on this machine, its process exists; on
    another, it reported within STALE_S."""
    if not worker:
        return False
    host, _, rest = worker.partition(":")
    if host == socket.gethostname():
        pid = int(rest.split(":")[0])
        if worker == WORKER:
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return beat is not None and time.time() - beat < STALE_S


def _fail_stale(study) -> set[str]:
    """Trials a killed run left RUNNING are failed now (their configurations return to the untried pool); the
    keys of trials other live workers are running are returned, so this worker leaves them alone."""
    from optuna.trial import TrialState

    busy = set()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        started = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
        if "worker" not in trial.user_attrs and time.time() - started < 120:
            continue  # just asked by another worker, not yet claimed
        if _alive(trial.user_attrs.get("worker"), trial.user_attrs.get("beat")):
            if trial.user_attrs.get("worker") != WORKER and trial.user_attrs.get("key"):
                busy.add(trial.user_attrs["key"])
            continue
        study._storage.set_trial_user_attr(trial._trial_id, "error", "interrupted; tried again on resume")
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    return busy


def _fill(study, space: Space, untried: list[GridPoint], queue: list[GridPoint], size: int, number: int,
          seed: int) -> list[tuple[Any, GridPoint]]:
    """Up to `size` distinct untried configurations: the queued proposals, then the sampler's; when the sampler
    keeps proposing settled ones (a small space), the remaining untried ones in a seeded order."""
    from optuna.trial import TrialState

    wanted = {p.key for p in untried}
    chosen: dict[str, tuple[Any, GridPoint]] = {}
    for config in queue:
        if config.key in wanted and config.key not in chosen and len(chosen) < size:
            study.enqueue_trial(space.params(config), skip_if_exists=False)
    misses = 0
    while len(chosen) < size and misses < 3 * size:
        trial = study.ask()
        config = space.suggest(trial)
        if config.key in wanted and config.key not in chosen:
            _claim(trial, config, number)
            chosen[config.key] = (trial, config)
        else:
            misses += 1
            trial.set_user_attr("error", "duplicate proposal")
            study.tell(trial, state=TrialState.FAIL)
    chosen = _release_conflicts(study, chosen)
    rest = sorted((p for p in untried if p.key not in chosen),
                  key=lambda p: hashlib.sha256(f"{seed}:{number}:{p.key}".encode()).hexdigest())
    for config in rest[:size - len(chosen)]:
        study.enqueue_trial(space.params(config), skip_if_exists=False)
        trial = study.ask()
        config = space.suggest(trial)  # records the enqueued parameters on the trial, for the sampler
        if config.key in wanted and config.key not in chosen:  # another worker may have taken this one's place
            _claim(trial, config, number)
            chosen[config.key] = (trial, config)
        else:
            trial.set_user_attr("error", "duplicate proposal")
            study.tell(trial, state=TrialState.FAIL)
    return list(_release_conflicts(study, chosen).values())


def _release_conflicts(study, chosen: dict[str, tuple[Any, GridPoint]]) -> dict[str, tuple[Any, GridPoint]]:
    """Another worker claimed some of these configurations first (an earlier trial of the same key, running or
    settled since this bracket was drawn): leave them to it."""
    from optuna.trial import TrialState

    first: dict[str, tuple[float, int]] = {}  # key -> the earliest claim (time, trial number)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.COMPLETE,
                                                          TrialState.PRUNED)):
        key = trial.user_attrs.get("key")
        if key in chosen:
            claim = (trial.user_attrs.get("claimed", 0.0), trial.number)
            first[key] = min(first.get(key, claim), claim)
    kept = {}
    for key, (trial, config) in chosen.items():
        # each worker writes its claim before it checks, so of two claims the later one always sees the earlier
        if first.get(key, (0.0, trial.number))[1] != trial.number:
            trial.set_user_attr("error", "claimed by another worker")
            study.tell(trial, state=TrialState.FAIL)
        else:
            kept[key] = (trial, config)
    return kept


def _claim(trial, config: GridPoint, bracket: int) -> None:
    trial.set_user_attr("key", config.key)
    trial.set_user_attr("bracket", bracket)
    trial.set_user_attr("worker", WORKER)
    trial.set_user_attr("beat", time.time())
    trial.set_user_attr("claimed", time.time())


def _bracket(study, trials, ordered, schedule, evaluator, eta, metric, check, failed, emit) -> None:
    from optuna.trial import TrialState

    alive = list(trials)
    for level, size in enumerate(schedule):
        scores: dict[str, float] = {}
        costs: dict[str, float] = {}
        for trial, config in list(alive):
            emit("rung", {"level": level, "questions": size, "config": config, "label": config.label()})
            try:
                records = evaluator.records(config, ordered[:size], check)
            except EndpointError as exc:  # this configuration's engine is down: the search goes on without it
                trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
                study.tell(trial, state=TrialState.FAIL)
                failed.add(config.key)
                alive.remove((trial, config))
                emit("failed", {"config": config, "error": str(exc)})
                continue
            score = sum(r.metric(metric) for r in records) / len(records)
            trial.report(score, size)
            trial.set_user_attr("beat", time.time())
            scores[config.key] = score
            costs[config.key] = sum(r.used("compute_s") for r in records)
        if level == len(schedule) - 1:
            for trial, config in alive:
                study.tell(trial, scores[config.key])
            return
        kept = set(promote(scores, eta, tie_break=costs))
        emit("promoted", {"level": level, "questions": size, "kept": sorted(kept), "of": len(scores)})
        for trial, config in list(alive):
            if config.key not in kept:
                study.tell(trial, state=TrialState.PRUNED)
                alive.remove((trial, config))


def _finalists(records: list[TrialRecord], space: Space, count: int) -> list[GridPoint]:
    """The best settled configurations: furthest rung first, then score (a configuration tried in several
    brackets counts once, at its best)."""
    best: dict[str, TrialRecord] = {}
    for r in records:
        if r.state in ("complete", "pruned") and r.score is not None and space.get(r.key):
            if r.key not in best or (r.questions, r.score) > (best[r.key].questions, best[r.key].score):
                best[r.key] = r
    ranked = sorted(best.values(), key=lambda r: (-r.questions, -r.score, r.key))
    return [space.get(r.key) for r in ranked[:count]]
