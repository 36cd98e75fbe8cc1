"""The computation allocation model (Yue et al., 2024, "Inference Scaling for Long-Context RAG", eq. 2):

    logit(P(θ)) ≈ (a + b ⊙ i)ᵀ log θ + c,     θ = (k documents, m demonstrations, n generation iterations)

fit over sweep results, and `allocate`: the θ with the best predicted quality whose effective context fits a
budget. Choices made here, each for a reason:
- log θ is (log(1+k), log(1+m), log n): k and m may be 0, and n counts generation calls (1 for RAG and DRAG,
  1 + follow-ups for IterDRAG), so n = 1 contributes nothing.
- P is clipped to [ε, 1-ε] with ε = min(0.05, 1/(2·count)), so a configuration that got every question right (or
  wrong) has a finite logit that reflects how many questions it saw.
- i = (i_doc, i_shot, 0) per dataset: the gain of one document over no retrieval and of one demonstration over
  none (at the smallest k swept both ways), measured from the sweep when it holds those configurations (or
  given). b is fit only with ≥ 2 datasets whose i differ; with one dataset the model is a + c.
- Points are weighted by √count; points run with samples > 1 or mostly shrunk by the context budget are left out
  (their θ is not what ran).
- Held-out configurations (about a quarter, chosen by a hash of their key) measure how well the model predicts
  what it did not see; the reported coefficients are then refit on every point.
- Effective context for an unmeasured θ comes from a non-negative least-squares cost model per dataset:
  tokens ≈ (u0 + u1·k + u2·k·m + u3·m) + (n-1)·(v0 + v1·k + v2·k·m + v3·m). The second term is fit on what
  IterDRAG actually read, since a model that answers early never makes its n calls.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import ConfigError, LlmoptError
from ..rag.strategy import strategy_class, strategy_classes
from .results import ConfigSummary

# A configuration the budget planner had to shrink (fewer k or m than nominal) on more than this share of its
# questions mostly ran a smaller θ than its label says; fitting it at the nominal θ would misplace the point.
MAX_BUDGET_LIMITED_SHARE = 0.5


def allocatable(strategy: str) -> bool:
    """Whether the strategy declares that θ = (k, m, generation calls) describes what it runs."""
    try:
        return strategy_class(strategy).allocatable
    except LlmoptError:  # measured by a strategy this installation does not have
        return False


def eligible(entry: ConfigSummary, metric: str) -> bool:
    """Whether a measured configuration is a point of the allocation model: measured, one sample (selection among
    several is not part of θ), an allocatable strategy, mostly run at its nominal θ, and scored on the metric."""
    return (entry.count > 0 and entry.samples == 1 and allocatable(entry.strategy)
            and (entry.budget_limited or 0) <= MAX_BUDGET_LIMITED_SHARE and entry.metric(metric) is not None)


@dataclass(frozen=True)
class Observation:
    """One measured configuration: its θ, its mean quality and what it read."""

    dataset: str
    model: str
    prompt: str
    strategy: str
    k: int
    m: int
    iterations: int
    value: float  # mean quality (acc, f1 or em) in [0, 1]
    count: int
    effective_context: float = 0.0
    key: str = ""

    @classmethod
    def from_config(cls, dataset: str, config: ConfigSummary, metric: str) -> Observation:
        return cls(dataset, config.model, config.prompt, config.strategy, config.k, config.m,
                   iterations(config.strategy, config.n), float(config.metric(metric)), config.count,
                   float(config.effective_context_mean or 0.0), config.key)


def iterations(strategy: str, n: int) -> int:
    """Generation iterations: the calls one sample may make with n follow-ups, as the strategy declares (IterDRAG
    up to n follow-ups and a final one; one-call strategies one)."""
    return strategy_class(strategy).generation_calls(n)


def log_theta(k: float, m: float, n: float) -> np.ndarray:
    return np.array([math.log1p(k), math.log1p(m), math.log(max(1.0, n))])


def logit(p: np.ndarray, count: np.ndarray) -> np.ndarray:
    eps = np.minimum(0.05, 1.0 / (2.0 * np.maximum(count, 1)))
    p = np.clip(p, eps, 1 - eps)
    return np.log(p / (1 - p))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@dataclass
class AllocationModel:
    metric: str
    a: list[float]
    c: float
    b: list[float] | None = None
    informativeness: dict[str, list[float]] = field(default_factory=dict)
    r2: float | None = None  # on the logit scale, over the points fit
    r2_p: float | None = None  # on the metric's own scale
    n_points: int = 0
    datasets: list[str] = field(default_factory=list)
    model: str = ""
    prompt: str = ""
    holdout: list[dict] = field(default_factory=list)  # predicted against measured, left out of a fit
    holdout_mae: float | None = None
    context: dict[str, list[float]] = field(default_factory=dict)  # per dataset: the cost model's u
    ranges: dict[str, list[int]] = field(default_factory=dict)  # per dataset: the largest k, m, n measured
    notes: list[str] = field(default_factory=list)

    def predict(self, k: float, m: float, n: float, dataset: str | None = None) -> float:
        x = log_theta(k, m, n)
        weights = np.array(self.a)
        if self.b is not None:
            info = self.informativeness.get(dataset or (self.datasets[0] if self.datasets else ""))
            if info is None:
                known = ", ".join(self.informativeness)
                raise ConfigError(f"no informativeness for dataset '{dataset}'; known: {known}")
            weights = weights + np.array(self.b) * np.array(info)
        return sigmoid(float(weights @ x + self.c))

    def effective_context(self, k: float, m: float, n: float, dataset: str | None = None) -> float | None:
        u = self.context.get(dataset or (self.datasets[0] if self.datasets else ""))
        return None if u is None else float(np.array(u) @ context_features(k, m, n))

    def to_dict(self) -> dict:
        return asdict(self)


# -- fitting ----------------------------------------------------------------------------------------------------
def usable(observations: Sequence[Observation]) -> list[Observation]:
    return [o for o in observations if allocatable(o.strategy) and o.count > 0]


def measure_informativeness(observations: Sequence[Observation]) -> dict[str, list[float]]:
    """i = (i_doc, i_shot, 0) per dataset, from the sweep: P(rag, smallest k) − P(none), and P(drag, smallest m,
    k) − P(rag, k) at the smallest k swept both with and without demonstrations (sweeps often run DRAG only at a
    mid-size k, e.g. k=3 next to RAG at k=1, 3, 5). A dataset missing those configurations gets no entry. The
    roles come from what each strategy declares: none retrieves nothing, rag reads documents only, drag reads
    demonstrations too, all in one call."""
    found: dict[str, list[float]] = {}
    for dataset in sorted({o.dataset for o in observations}):
        own = [o for o in observations if o.dataset == dataset and o.iterations == 1
               and not strategy_class(o.strategy).iterative]
        base = next((o for o in own if not strategy_class(o.strategy).uses_retrieval), None)
        rag = {o.k: o for o in sorted((o for o in own if _reads(o, documents=True, demonstrations=False)
                                       and o.k > 0 and o.m == 0), key=lambda o: o.count)}  # the best-measured per k
        drag = sorted((o for o in own if _reads(o, documents=True, demonstrations=True) and o.m > 0 and o.k in rag),
                      key=lambda o: (o.k, o.m))
        if base is None or not rag or not drag:
            continue
        found[dataset] = [rag[min(rag)].value - base.value, drag[0].value - rag[drag[0].k].value, 0.0]
    return found


def _reads(o: Observation, *, documents: bool, demonstrations: bool) -> bool:
    declared = strategy_class(o.strategy)
    return declared.uses_retrieval == documents and declared.uses_demonstrations == demonstrations


@dataclass(frozen=True)
class Design:
    """Which θ components vary (only those get a coefficient) and whether b is fit (with per-dataset i)."""

    active: tuple[int, ...]  # indices into (k, m, n)
    info: dict[str, list[float]] | None = None  # set when b is fit

    @property
    def b_active(self) -> tuple[int, ...]:
        return tuple(j for j in self.active if j < 2) if self.info is not None else ()

    @property
    def size(self) -> int:
        return len(self.active) + len(self.b_active) + 1

    def row(self, o: Observation) -> list[float]:
        x = log_theta(o.k, o.m, o.iterations)
        extra = [self.info[o.dataset][j] * x[j] for j in self.b_active] if self.info is not None else []
        return [x[j] for j in self.active] + extra + [1.0]

    def matrix(self, points: Sequence[Observation]) -> np.ndarray:
        return np.array([self.row(o) for o in points], dtype=np.float64)

    def unpack(self, coef: np.ndarray) -> tuple[list[float], list[float] | None, float]:
        a, b = [0.0, 0.0, 0.0], ([0.0, 0.0, 0.0] if self.info is not None else None)
        for slot, j in enumerate(self.active):
            a[j] = float(coef[slot])
        for slot, j in enumerate(self.b_active):
            b[j] = float(coef[len(self.active) + slot])
        return a, b, float(coef[-1])


def _solve(points: Sequence[Observation], design: Design) -> np.ndarray:
    X = design.matrix(points)
    y = logit(np.array([o.value for o in points]), np.array([o.count for o in points]))
    w = np.sqrt(np.array([o.count for o in points], dtype=np.float64))
    coef, *_ = np.linalg.lstsq(X * w[:, None], y * w, rcond=None)
    return coef


def _r2(actual: np.ndarray, predicted: np.ndarray) -> float | None:
    total = float(((actual - actual.mean()) ** 2).sum())
    return None if total == 0 else 1.0 - float(((actual - predicted) ** 2).sum()) / total


def _held_out(points: Sequence[Observation], share: float = 0.25) -> set[int]:
    if len(points) < 6:
        return set()
    ranked = sorted(range(len(points)), key=lambda i: hashlib.sha256(
        f"{points[i].dataset}|{points[i].key or (points[i].strategy, points[i].k, points[i].m, points[i].iterations)}"
        .encode()).hexdigest())
    return set(ranked[:max(1, int(len(points) * share))])


def _distinct(points: Sequence[Observation]) -> int:
    return len({(o.dataset, o.k, o.m, o.iterations) for o in points})


def fit_allocation(observations: Sequence[Observation], *, metric: str = "acc",
                   informativeness: dict[str, list[float]] | None = None) -> AllocationModel:
    """Fit the model over one group of observations (one model, one prompt); raises ConfigError when there are
    too few distinct configurations."""
    points = usable(observations)
    datasets = sorted({o.dataset for o in points})
    info = {**measure_informativeness(points), **(informativeness or {})}
    notes = []
    use_b = len(datasets) >= 2 and all(d in info for d in datasets) and len({tuple(info[d]) for d in datasets}) >= 2
    if len(datasets) >= 2 and not use_b:
        notes.append("b not fit: informativeness is missing or equal across datasets (sweep none, rag and drag "
                     "configurations on each dataset, or pass informativeness)")
    active = tuple(j for j in range(3) if len({round(float(log_theta(o.k, o.m, o.iterations)[j]), 9)
                                               for o in points}) > 1)
    notes += [f"{'kmn'[j]} does not vary in this sweep: its coefficient is 0, not measured"
              for j in range(3) if j not in active]
    design = Design(active, info if use_b else None)
    if _distinct(points) <= design.size:
        raise ConfigError(f"the allocation model needs more than {design.size} distinct (k, m, n) configurations; "
                          f"this sweep has {_distinct(points)}: add k, m or n values")
    model = _model(_solve(points, design), design, metric, datasets, points, notes, info)
    _holdout(model, points, design, info)
    model.context = {d: fit_context([o for o in points if o.dataset == d]) for d in datasets}
    model.ranges = {d: [max(o.k for o in points if o.dataset == d), max(o.m for o in points if o.dataset == d),
                        max(o.iterations for o in points if o.dataset == d)] for d in datasets}
    return model


def _model(coef: np.ndarray, design: Design, metric, datasets, points, notes, info) -> AllocationModel:
    a, b, c = design.unpack(coef)
    model = AllocationModel(metric, a, c, b, {d: info[d] for d in datasets if d in info}, n_points=len(points),
                            datasets=datasets, model=points[0].model, prompt=points[0].prompt, notes=notes)
    y = logit(np.array([o.value for o in points]), np.array([o.count for o in points]))
    model.r2 = _r2(y, design.matrix(points) @ coef)
    predicted = np.array([model.predict(o.k, o.m, o.iterations, o.dataset) for o in points])
    model.r2_p = _r2(np.array([o.value for o in points]), predicted)
    return model


def _holdout(model: AllocationModel, points: list[Observation], design: Design, info) -> None:
    held = _held_out(points)
    train = [o for i, o in enumerate(points) if i not in held]
    if not held or _distinct(train) <= design.size:
        model.notes.append("too few configurations to hold some out; add k, m or n values to test the fit")
        return
    partial = _model(_solve(train, design), design, model.metric, model.datasets, train, [], info)
    model.holdout = [{"dataset": o.dataset, "strategy": o.strategy, "k": o.k, "m": o.m, "n": o.iterations,
                      "key": o.key, "measured": o.value,
                      "predicted": partial.predict(o.k, o.m, o.iterations, o.dataset)}
                     for i, o in enumerate(points) if i in held]
    model.holdout_mae = float(np.mean([abs(h["predicted"] - h["measured"]) for h in model.holdout]))


def context_features(k: float, m: float, n: float) -> np.ndarray:
    one_call = [1.0, k, k * m, m]
    return np.array(one_call + [(n - 1) * v for v in one_call])


def fit_context(points: Sequence[Observation]) -> list[float]:
    from scipy.optimize import nnls

    measured = [o for o in points if o.effective_context > 0]
    if not measured:
        return []
    X = np.array([context_features(o.k, o.m, o.iterations) for o in measured])
    u, _ = nnls(X, np.array([o.effective_context for o in measured]))
    return [float(v) for v in u]


def fit_groups(observations: Sequence[Observation], metric: str = "acc",
               informativeness: dict[str, list[float]] | None = None) -> list[dict]:
    """One model per (model, prompt) group; a group that cannot be fit says why instead."""
    groups: dict[tuple[str, str], list[Observation]] = {}
    for o in usable(observations):
        groups.setdefault((o.model, o.prompt), []).append(o)
    fitted = []
    for (model, prompt), points in sorted(groups.items()):
        try:
            fitted.append(fit_allocation(points, metric=metric, informativeness=informativeness).to_dict())
        except ConfigError as exc:
            fitted.append({"model": model, "prompt": prompt, "metric": metric, "error": str(exc),
                           "n_points": len(points)})
    return fitted


# -- allocating -------------------------------------------------------------------------------------------------
def strategy_for(k: int, m: int, n: int) -> str:
    """The simplest allocatable strategy (fewest axes, then registry order) that runs θ: one that reads documents
    when k > 0 (and none when k = 0), demonstrations when m > 0, and iterates when n > 1."""
    needs = {axis for axis, needed in (("k", k > 0), ("m", m > 0), ("n", n > 1)) if needed}
    fits = [cls for cls in strategy_classes() if cls.allocatable and needs <= set(cls.axes())
            and cls.uses_retrieval == (k > 0)]
    return min(fits, key=lambda cls: (len(cls.axes()), cls.order)).name


def allocate(model: AllocationModel, budget: float, *, dataset: str | None = None, top: int = 5) -> dict:
    """The θ inside the measured ranges (no extrapolation) with the best predicted quality whose predicted
    effective context fits the budget; ties go to the cheaper one. Also the runners-up."""
    dataset = dataset or (model.datasets[0] if model.datasets else "")
    if dataset not in model.ranges:
        raise ConfigError(f"no measurements on dataset '{dataset}'; datasets: {', '.join(model.ranges)}")
    k_max, m_max, n_max = model.ranges[dataset]
    candidates = []
    for k in range(k_max + 1):
        for m in range(m_max + 1):
            for n in range(1, n_max + 1):
                tokens = model.effective_context(k, m, n, dataset)
                if (k == 0 and (m or n > 1)) or tokens is None or tokens > budget:
                    continue
                candidates.append({"strategy": strategy_for(k, m, n), "k": k, "m": m, "n": n,
                                   "follow_ups": n - 1, "predicted": model.predict(k, m, n, dataset),
                                   "predicted_effective_context": tokens})
    candidates.sort(key=lambda c: (-round(c["predicted"], 6), c["predicted_effective_context"]))
    return {"budget": budget, "dataset": dataset, "model": model.model, "prompt": model.prompt,
            "metric": model.metric, "best": candidates[0] if candidates else None, "alternatives": candidates[1:top]}


def measured_best(observations: Sequence[Observation], budget: float) -> Observation | None:
    """The best measured configuration whose mean effective context fits the budget."""
    fitting = [o for o in usable(observations) if 0 < o.effective_context <= budget]
    return max(fitting, key=lambda o: (o.value, -o.effective_context), default=None)
