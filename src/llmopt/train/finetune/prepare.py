"""From data files to token rows: read, deduplicate, hold out, check eval overlap, retrieve (RAG), tokenize."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import InputError
from ...retrieval import Retriever
from .config import FinetuneConfig
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


def prepare(config: FinetuneConfig, renderer: Renderer, retriever: Retriever | None = None) -> Prepared:
    report = DataReport()
    train = read_examples(config.data)
    report.read = len(train)
    if config.dedup:
        train = deduplicate(train, config.near_dup_threshold, report)
    if config.eval is not None:
        evaluation = read_examples(config.eval)
    else:
        train, evaluation = holdout_split(train, config.eval_fraction, config.seed)
    train = check_overlap(train, evaluation, config.near_dup_threshold, config.eval_overlap, report)
    if retriever is not None:
        from .rag import augment

        train, evaluation = augment(train, retriever, config.rag_k), augment(evaluation, retriever, config.rag_k)
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
