"""From data files to token rows: read, deduplicate, hold out, check eval overlap, retrieve (RAG), tokenize."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import InputError
from ...retrieval import Retriever
from .config import DataSettings
from .data import Example, holdout_split, read_examples
from .quality import DataReport, check_overlap, deduplicate
from .template import Renderer, Tokenized


@dataclass
class Prepared:
    train: list[Example]
    evaluation: list[Example]
    train_rows: list[Tokenized]
    eval_rows: list[Tokenized]
    report: DataReport


def prepare(config: DataSettings, renderer: Renderer, retriever: Retriever | None = None, *,
            rag_k: int = 4) -> Prepared:
    train, evaluation, report = load_split(config)
    if retriever is not None:
        from .rag import augment

        train, evaluation = augment(train, retriever, rag_k), augment(evaluation, retriever, rag_k)
    return tokenize_split(config, renderer, train, evaluation, report)


def load_split(config: DataSettings, require_answer: bool = True) -> tuple[list[Example], list[Example], DataReport]:
    """Read, deduplicate, hold out (without an eval file) and check train/eval overlap."""
    report = DataReport()
    train = read_examples(config.data, require_answer=require_answer)
    report.read = len(train)
    if config.dedup:
        train = deduplicate(train, config.near_dup_threshold, report)
    if config.eval is not None:
        evaluation = read_examples(config.eval, require_answer=require_answer)
    else:
        train, evaluation = holdout_split(train, config.eval_fraction, config.seed)
    train = check_overlap(train, evaluation, config.near_dup_threshold, config.eval_overlap, report)
    return train, evaluation, report


def tokenize_split(config, renderer: Renderer, train: list[Example], evaluation: list[Example],
                   report: DataReport) -> Prepared:
    train, train_rows = tokenize_all(train, renderer, config.max_seq_len, report)
    evaluation, eval_rows = tokenize_all(evaluation, renderer, config.max_seq_len, None)
    evaluation, eval_rows = evaluation[: config.eval_max_examples], eval_rows[: config.eval_max_examples]
    report.kept = len(train_rows)
    if not train_rows:
        raise InputError(f"no training example left after filtering ({'; '.join(report.lines())}); "
                         "raise --max-seq-len or check the data")
    return Prepared(train, evaluation, train_rows, eval_rows, report)


def tokenize_all(examples: list[Example], renderer: Renderer, max_len: int,
                 report: DataReport | None) -> tuple[list[Example], list[Tokenized]]:
    """Tokenize; drop examples longer than max_len (cutting them would teach truncated answers)."""
    kept, rows = [], []
    for example in examples:
        row = renderer.tokenize(example)
        reason = "too_long" if len(row) > max_len else "empty_answers" if row.trained_tokens == 0 else None
        if reason:
            if report is not None:
                setattr(report, reason, getattr(report, reason) + 1)
                report.note(reason, example.where)
            continue
        kept.append(example)
        rows.append(row)
    return kept, rows
