"""QA datasets: one typed item per question, read from the formats people actually have.

    ds = load_dataset("hotpot_dev_distractor.jsonl")            format detected from the rows
    ds = load_dataset("musique_ans_dev.jsonl", format="musique")
    ds = load_dataset("demo")                                    the project's own demo QA set (writes it first)

Formats (one registry entry each; `format="auto"` picks the first whose `detect` accepts the first row):
    jsonl            question, answers (or answer), optional id, contexts/paragraphs, decomposition, evidence
    hotpotqa         _id, question, answer, supporting_facts, context=[[title, [sentences]]]  (distractor)
    2wikimultihopqa  the HotpotQA layout plus `evidences` triples
    musique          id, question, answer, answer_aliases, question_decomposition, paragraphs
    ircot            question_id, question_text, answers_objects, contexts  (IRCoT's processed format)
    financebench     financebench_id, question, answer, doc_name, evidence[{evidence_page_num}] + the PDFs

For the multi-hop sets the retrieval corpus is the union of the paragraphs the file ships (title + text per chunk,
one chunk id per distinct paragraph) and the gold evidence is the supporting paragraphs' chunk ids. FinanceBench's
corpus is its PDFs and its evidence is pages, keyed "DOC#PAGE" with 1-based pages.
A row that cannot be read is skipped with its reason; the rest of the file still loads.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from ..jsonl import read_rows
from ..types import Chunk, Hit
from .metrics import normalize_answer


@dataclass(frozen=True)
class Paragraph:
    title: str
    text: str

    @property
    def key(self) -> str:
        """A chunk id that is the same wherever the paragraph appears (so the corpus holds it once)."""
        return "p" + hashlib.sha256(f"{self.title}\0{self.text}".encode()).hexdigest()[:16]

    def to_chunk(self, corpus: str) -> Chunk:
        text = f"{self.title}\n{self.text}" if self.title else self.text
        return Chunk(self.key, text, f"{corpus}/{self.title or self.key}", metadata={"title": self.title})


@dataclass
class QAItem:
    id: str
    question: str
    answers: list[str]
    paragraphs: list[Paragraph] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)  # paragraph keys, "DOC#PAGE" pages, or file names
    decomposition: list[dict[str, str]] = field(default_factory=list)  # [{"question", "answer"}]
    filters: dict[str, Any] | None = None  # retrieval filters for this question (e.g. its own document)
    metadata: dict[str, Any] = field(default_factory=dict)

    def demo_row(self) -> dict[str, Any]:
        """The row a demonstration pool (llmopt.rag.demos) reads; documents come from retrieval, as in the paper."""
        return {"id": self.id, "question": self.question, "answer": self.answers[0],
                **({"chain": self.decomposition} if self.decomposition else {})}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class QADataset:
    name: str  # the format's name, or the file's for generic JSONL
    path: str
    items: list[QAItem]
    evidence_kind: str | None = None  # "paragraph" | "page" | "document" | None
    documents: list[Path] = field(default_factory=list)  # files the corpus is ingested from (PDFs, demo corpus)
    skipped: list[str] = field(default_factory=list)  # "row N: reason"
    demos: list[QAItem] | None = None  # a demonstration pool the dataset ships (the demo set does)

    def corpus_chunks(self) -> list[Chunk]:
        """The union of every item's paragraphs (demonstration pool included), each once."""
        seen: dict[str, Chunk] = {}
        for item in self.items + (self.demos or []):
            for paragraph in item.paragraphs:
                seen.setdefault(paragraph.key, paragraph.to_chunk(self.name))
        return list(seen.values())

    @property
    def fingerprint(self) -> str:
        """Changes when the questions, answers or corpus change (names the cached index and guards resumes)."""
        digest = hashlib.sha256()
        for item in self.items + (self.demos or []):
            digest.update(json.dumps([item.id, item.question, item.answers, [p.key for p in item.paragraphs]],
                                     ensure_ascii=False).encode())
        for doc in self.documents:
            digest.update(f"{doc.name}:{doc.stat().st_size}".encode())
        return digest.hexdigest()[:12]


def evidence_key(hit: Hit, kind: str | None) -> str:
    """How a retrieved chunk is compared with an item's gold evidence."""
    return key_for(hit.chunk.chunk_id, hit.chunk.source, hit.chunk.page, kind)


def key_for(chunk_id: str, source: str, page: int | None, kind: str | None) -> str:
    """paragraph: the chunk id; page: "DOC#PAGE" (file stem, 1-based page); document: the file name."""
    if kind == "page":
        return f"{Path(source).stem}#{page}"
    if kind == "document":
        return Path(source).name
    return chunk_id


# -- the format registry ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Format:
    name: str
    detect: Callable[[dict], bool]
    parse: Callable[[dict, int], QAItem]
    evidence_kind: str | None = "paragraph"


FORMATS: dict[str, Format] = {}


def register_format(name: str, detect: Callable[[dict], bool], evidence_kind: str | None = "paragraph"):
    def decorator(parse: Callable[[dict, int], QAItem]) -> Callable[[dict, int], QAItem]:
        FORMATS[name] = Format(name, detect, parse, evidence_kind)
        return parse

    return decorator


def _text(value: Any, what: str) -> str:
    text = str(value if value is not None else "").strip()
    if not text:
        raise ValueError(f"missing {what}")
    return text


def _answers(values: list[Any]) -> list[str]:
    answers = list(dict.fromkeys(str(v).strip() for v in values if v is not None and str(v).strip()))
    if not answers:
        raise ValueError("no gold answer")
    return answers


def _paragraphs(items: list[Any]) -> tuple[list[Paragraph], list[str]]:
    """Paragraphs from strings or {title, text | paragraph_text, is_supporting | supporting}; supporting keys."""
    paragraphs, supporting = [], []
    for entry in items or []:
        if isinstance(entry, str):
            paragraph = Paragraph("", entry.strip())
        elif isinstance(entry, dict):
            paragraph = Paragraph(str(entry.get("title") or "").strip(),
                                  str(entry.get("text", entry.get("paragraph_text")) or "").strip())
            if entry.get("is_supporting", entry.get("supporting")):
                supporting.append(paragraph.key)
        else:
            raise ValueError("a paragraph must be a string or an object with title and text")
        if paragraph.text:
            paragraphs.append(paragraph)
    return paragraphs, supporting


def _steps(steps: list[Any]) -> list[dict[str, str]]:
    """A decomposition, with MuSiQue's "#1" references replaced by the earlier steps' answers."""
    chain: list[dict[str, str]] = []
    for step in steps or []:
        if not isinstance(step, dict) or not step.get("question") or not step.get("answer"):
            raise ValueError("each decomposition step needs question and answer")
        question = re.sub(r"#(\d+)", lambda m: chain[int(m.group(1)) - 1]["answer"]
                          if 0 < int(m.group(1)) <= len(chain) else m.group(0), str(step["question"]))
        chain.append({"question": question.strip(), "answer": str(step["answer"]).strip()})
    return chain


@register_format("financebench", lambda r: "financebench_id" in r or ("doc_name" in r and "evidence" in r),
                 evidence_kind="page")
def _financebench(row: dict, number: int) -> QAItem:
    answer = _text(row.get("answer"), "answer")
    # answers are analyst prose; the first sentence is the answer proper ("36%. The answer here assumes ...")
    short = re.split(r"(?<=[.!?])\s+(?=[A-Z])", answer, maxsplit=1)[0].rstrip(".").strip()
    doc = _text(row.get("doc_name"), "doc_name")
    pages = [f"{e.get('doc_name') or doc}#{int(e['evidence_page_num']) + 1}" for e in row.get("evidence") or []
             if isinstance(e, dict) and e.get("evidence_page_num") is not None]  # the file's pages are 0-based
    return QAItem(str(row.get("financebench_id") or number), _text(row.get("question"), "question"),
                  _answers([answer] + ([short] if normalize_answer(short) != normalize_answer(answer) else [])),
                  evidence=list(dict.fromkeys(pages)),
                  metadata={"doc_name": doc, "company": row.get("company"), "question_type": row.get("question_type"),
                            "document": f"{doc}.pdf"})


@register_format("ircot", lambda r: "question_text" in r and "answers_objects" in r)
def _ircot(row: dict, number: int) -> QAItem:
    answers: list[Any] = []
    for obj in row.get("answers_objects") or []:
        answers += list(obj.get("spans") or [])
        if str(obj.get("number") or "").strip():
            answers.append(obj["number"])
        date = obj.get("date") or {}
        if any(str(date.get(k) or "").strip() for k in ("day", "month", "year")):
            answers.append(" ".join(str(date.get(k) or "") for k in ("day", "month", "year")).strip())
    paragraphs, supporting = _paragraphs(row.get("contexts") or [])
    return QAItem(str(row.get("question_id", number)), _text(row.get("question_text"), "question_text"),
                  _answers(answers), paragraphs, supporting,
                  metadata={k: row[k] for k in ("level", "type", "dataset") if k in row})


@register_format("musique", lambda r: "question_decomposition" in r or
                 (isinstance(r.get("paragraphs"), list) and "answer_aliases" in r))
def _musique(row: dict, number: int) -> QAItem:
    if row.get("answerable") is False:
        raise ValueError("unanswerable question (MuSiQue-Full); use the -Ans set")
    paragraphs, supporting = _paragraphs(row.get("paragraphs") or [])
    decomposition = _steps(row.get("question_decomposition") or [])
    return QAItem(str(row.get("id", number)), _text(row.get("question"), "question"),
                  _answers([row.get("answer"), *(row.get("answer_aliases") or [])]), paragraphs, supporting,
                  decomposition, metadata={"hops": len(decomposition)})


def _context_paragraphs(row: dict) -> tuple[list[Paragraph], list[str]]:
    """HotpotQA / 2WikiMultiHopQA: context=[[title, [sentences]]], supporting_facts=[[title, sentence]]."""
    paragraphs = []
    for entry in row.get("context") or []:
        if not (isinstance(entry, (list, tuple)) and len(entry) == 2):
            raise ValueError("context entries must be [title, [sentences]]")
        title, sentences = entry
        text = "".join(sentences) if isinstance(sentences, list) else str(sentences)
        paragraphs.append(Paragraph(str(title).strip(), text.strip()))
    titles = {str(fact[0]).strip() for fact in row.get("supporting_facts") or [] if fact}
    return paragraphs, [p.key for p in paragraphs if p.title in titles]


def _hotpot_like(row: dict, number: int) -> QAItem:
    paragraphs, supporting = _context_paragraphs(row)
    return QAItem(str(row.get("_id", row.get("id", number))), _text(row.get("question"), "question"),
                  _answers([row.get("answer")]), paragraphs, supporting,
                  metadata={k: row[k] for k in ("type", "level") if k in row})


register_format("2wikimultihopqa", lambda r: "evidences" in r and "context" in r)(_hotpot_like)
register_format("hotpotqa", lambda r: "supporting_facts" in r and "context" in r)(_hotpot_like)


@register_format("jsonl", lambda r: "question" in r and ("answers" in r or "answer" in r), evidence_kind=None)
def _generic(row: dict, number: int) -> QAItem:
    answers = row.get("answers", row.get("answer"))
    paragraphs, supporting = _paragraphs(row.get("contexts") or row.get("paragraphs") or [])
    evidence = [str(e) for e in row.get("evidence") or []] or supporting or [str(d) for d in row.get("documents") or []]
    return QAItem(str(row.get("id", row.get("_id", number))), _text(row.get("question"), "question"),
                  _answers(answers if isinstance(answers, list) else [answers]), paragraphs, evidence,
                  _steps(row.get("decomposition") or row.get("chain") or []),
                  metadata={k: row[k] for k in ("hops", "type", "level", "kind", "documents") if k in row})


# -- loading ----------------------------------------------------------------------------------------------------
def detect_format(row: Any) -> Format:
    if isinstance(row, dict):
        for fmt in FORMATS.values():
            if fmt.detect(row):
                return fmt
    keys = ", ".join(sorted(row)[:8]) if isinstance(row, dict) else type(row).__name__
    raise InputError(f"cannot tell the dataset format from the first row (keys: {keys}); pass --format one of "
                     f"{', '.join(FORMATS)}, or write question/answers rows")


def parse_rows(rows: list[Any], fmt: Format) -> tuple[list[QAItem], list[str]]:
    items, skipped, seen = [], [], set()
    for number, row in enumerate(rows, start=1):
        try:
            if not isinstance(row, dict):
                raise TypeError(row if isinstance(row, str) else "not a JSON object")
            item = fmt.parse(row, number)
            if item.id in seen:
                raise ValueError(f"duplicate id {item.id}")
        except (KeyError, TypeError, ValueError) as exc:
            skipped.append(f"row {number}: {exc}")
            continue
        seen.add(item.id)
        items.append(item)
    return items, skipped


def load_dataset(spec: str | Path, *, format: str = "auto", per_document: bool = False) -> QADataset:
    """A dataset from a file, a folder holding one (plus its documents), or "demo". per_document: FinanceBench
    questions retrieve only from their own filing (the "single store" setting) instead of all filings."""
    if str(spec) == "demo":
        return load_demo()
    path = _data_file(Path(spec).expanduser())
    rows = read_rows(path)
    if not rows:
        raise InputError(f"{path} holds no rows; write one question per line")
    if format != "auto" and format not in FORMATS:
        raise ConfigError(f"unknown dataset format '{format}'; formats: auto, {', '.join(FORMATS)}")
    fmt = FORMATS[format] if format != "auto" else detect_format(rows[0])
    items, skipped = parse_rows(rows, fmt)
    if not items:
        raise InputError(f"no usable questions in {path} ({'; '.join(skipped[:3])}); check --format")
    name = fmt.name if fmt.name != "jsonl" else path.stem
    dataset = QADataset(name, str(path), items, fmt.evidence_kind, skipped=skipped)
    if fmt.name == "financebench":
        dataset.documents = _financebench_documents(path, items, per_document)
    elif fmt.evidence_kind is None and not any(i.paragraphs for i in items) and any(i.evidence for i in items):
        dataset.evidence_kind = _evidence_kind(items)
    elif any(i.paragraphs for i in items):
        dataset.evidence_kind = "paragraph"
    return dataset


def _evidence_kind(items: list[QAItem]) -> str:
    """Generic rows: "DOC#PAGE" keys are pages, the files a row lists under `documents` are documents, anything
    else names chunks."""
    if all("#" in e for i in items for e in i.evidence):
        return "page"
    if all(i.evidence == [str(d) for d in i.metadata.get("documents") or []] for i in items if i.evidence):
        return "document"
    return "paragraph"


def _data_file(path: Path) -> Path:
    if path.is_file():
        return path
    if path.is_dir():
        found = sorted(path.glob("*.jsonl")) or sorted(path.glob("*.json"))
        preferred = [p for p in found if p.stem in ("questions", "test", "dev", "eval")]
        if len(preferred or found) == 1:
            return (preferred or found)[0]
        raise InputError(f"{path} holds {len(found)} JSON/JSONL files; name the one to evaluate")
    raise InputError(f"dataset not found: {path}; pass a JSONL file, a folder holding one, or 'demo'")


def _financebench_documents(path: Path, items: list[QAItem], per_document: bool) -> list[Path]:
    folder = next((d for d in (path.parent / "pdfs", path.parent) if d.is_dir() and any(d.glob("*.pdf"))), None)
    if folder is None:
        raise InputError(f"no PDFs beside {path}; put the filings in {path.parent / 'pdfs'} as DOC_NAME.pdf")
    documents = {p.stem: p for p in folder.glob("*.pdf")}
    missing = sorted({i.metadata["doc_name"] for i in items} - set(documents))
    if missing:
        raise InputError(f"{len(missing)} filing(s) missing from {folder}: {', '.join(missing[:5])}; add them as "
                         "DOC_NAME.pdf")
    if per_document:
        for item in items:
            item.filters = {"source": item.metadata["document"]}
    return [documents[name] for name in sorted({i.metadata["doc_name"] for i in items})]


def load_demo(root: Path | None = None) -> QADataset:
    """The project's demo QA set (llmopt.demo.qa) over the demo corpus (llmopt.demo.corpus), written under root
    (default LLMOPT_HOME/demo-data): its questions, its own demonstration pool and the documents both are about.
    Items carry `kind` (text, table, chart, picture, multi-hop) and the `documents` they need."""
    from ..paths import subdir

    root = Path(root) if root else subdir("demo-data")
    _write_demo(root)
    folder = root / "qa"
    items, skipped = parse_rows(read_rows(folder / "questions.jsonl"), FORMATS["jsonl"])
    demos, _ = parse_rows(read_rows(folder / "demos.jsonl"), FORMATS["jsonl"])
    documents = sorted(p for p in (root / "corpus").rglob("*") if p.is_file() and p.suffix != ".json")
    return QADataset("demo", str(folder / "questions.jsonl"), items, _evidence_kind(items), documents, skipped, demos)


def _write_demo(root: Path) -> None:
    """Write the demo data once per version of its writers (the corpus PDF takes seconds to draw)."""
    from .. import demo
    from ..demo import write_demo_data
    from ..paths import atomic_write_text

    sources = sorted(p for p in Path(demo.__file__).parent.rglob("*.py"))
    version = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    marker = root / ".version"
    if marker.is_file() and marker.read_text() == version and (root / "qa" / "questions.jsonl").is_file():
        return
    write_demo_data(root, ["qa", "corpus"])
    atomic_write_text(marker, version)
