"""Few-shot example pools and DAIL-SQL's example selection (Gao et al., 2023, "Text-to-SQL Empowered by Large
Language Models: A Benchmark Evaluation").

DAIL selection: mask the domain words (table and column names) and values of the target question and of every
pool question, rank the pool by similarity of the masked questions, and put first the examples whose SQL
skeleton is similar (>= threshold) to a preliminary prediction of the target's SQL. The result has examples
close to the question's intent *and* to the query's shape. Nothing here is random.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .tokens import skeleton, token_spans, tokenize

SKELETON_THRESHOLD = 0.85  # DAIL-SQL's tau for query (skeleton) similarity
SAME_DB_MODES: tuple[str, ...] = ("any", "prefer", "only", "exclude")


@dataclass
class SQLExample:
    question: str
    query: str
    db_id: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"question": self.question, "query": self.query, "db_id": self.db_id}


@dataclass
class SelectedExample:
    example: SQLExample
    question_similarity: float
    query_similarity: float | None  # None without a preliminary query

    def to_dict(self) -> dict:
        return {**self.example.to_dict(), "question_similarity": round(self.question_similarity, 4),
                "query_similarity": None if self.query_similarity is None else round(self.query_similarity, 4)}


def load_examples(path: str | Path) -> list[SQLExample]:
    """Question/SQL pairs from a JSON list (Spider's dev.json / train_spider.json work as they are) or JSONL.
    Each item needs "question" and "query" (or "sql"/"SQL" holding a string); "db_id" is optional."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"example pool not found: {path}; pass a JSON or JSONL file of question/query pairs")
    text = path.read_text(encoding="utf-8")
    try:
        items = json.loads(text) if text.lstrip().startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON/JSONL ({exc}); write one object per line") from exc
    return [_example(item, path, n) for n, item in enumerate(items, 1)]


def _example(item: dict, path: Path, n: int) -> SQLExample:
    query = item.get("query") if isinstance(item, dict) else None
    if query is None and isinstance(item, dict):
        query = next((item[k] for k in ("sql", "SQL") if isinstance(item.get(k), str)), None)
    if not isinstance(item, dict) or not item.get("question") or not isinstance(query, str):
        raise InputError(f"{path}: item {n} needs a \"question\" and a \"query\" string")
    return SQLExample(item["question"], query.strip(), str(item.get("db_id", "")))


# -- similarity ---------------------------------------------------------------------------------------------
class LexicalEmbedder:
    """Hashed bag of words and word bigrams, L2-normalised: a deterministic embedder that needs no model
    (for tests, and for machines without the default embedder)."""

    model_id = "lexical"
    dim = 1024

    def embed(self, texts: Sequence[str], **_: object) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"<\w+>|\w+", text.lower())
            for feature in words + [f"{a} {b}" for a, b in zip(words, words[1:])]:
                vectors[row, zlib.crc32(feature.encode()) % self.dim] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def get_question_embedder(spec: str):
    """"lexical" for the model-free embedder; any other spec goes to llmopt.models.embed.get_embedder."""
    if spec == "lexical":
        return LexicalEmbedder()
    from ..models.embed import get_embedder

    return get_embedder(spec)


def _name_parts(identifiers: set[str]) -> set[str]:
    parts = set()
    for name in identifiers:
        parts.add(name.lower())
        name = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()
        parts.add(name.replace("_", " "))
        parts.update(p for p in re.split(r"[_\s]+", name) if len(p) >= 3)
    return parts


def mask_question(question: str, identifiers: set[str]) -> str:
    """Replace words that name schema items with <mask> and values (numbers, quoted text) with <unk>, so that
    similarity reflects what the question asks, not which domain it is about."""
    parts = _name_parts(identifiers)
    question = re.sub(r"\"[^\"]*\"|'[^']*'|“[^”]*”", "<unk>", question)

    def replace(match: re.Match) -> str:
        word = match.group()
        if re.fullmatch(r"\d+(\.\d+)?", word):
            return "<unk>"
        lower = word.lower()
        stems = {lower, lower[:-1] if lower.endswith("s") else lower, lower[:-2] if lower.endswith("es") else lower}
        return "<mask>" if stems & parts else word

    return re.sub(r"<unk>|[\w.]+", lambda m: m.group() if m.group() == "<unk>" else replace(m), question)


def sql_identifiers(sql: str) -> set[str]:
    """Names a query uses (its tables, columns and aliases): the schema words of an example's question."""
    return {text for kind, text in tokenize(sql) if kind == "name" and not re.fullmatch(r"[Tt]\d+", text)}


def skeleton_similarity(sql_a: str, sql_b: str) -> float:
    """Jaccard similarity of the two skeletons' token multisets."""
    a, b = Counter(skeleton(sql_a)), Counter(skeleton(sql_b))
    union = sum((a | b).values())
    return sum((a & b).values()) / union if union else 0.0


class ExamplePool:
    """A pool of question/SQL pairs and DAIL-SQL selection over it. Pool embeddings are computed once."""

    def __init__(self, examples: Sequence[SQLExample], *, embedder: str = "default",
                 skeleton_threshold: float = SKELETON_THRESHOLD,
                 schema_identifiers: Callable[[str], set[str]] | None = None):
        """schema_identifiers(db_id): the names of an example's database, when its schema can be read: masking
        then hides every one of them from the shown question, not only those its query uses."""
        self.examples = list(examples)
        self._schema_identifiers = schema_identifiers
        self._identifiers: dict[str, set[str]] = {}
        self.embedder_spec = embedder
        self.skeleton_threshold = skeleton_threshold
        self._embedder = None
        self._vectors: np.ndarray | None = None
        self._question_vectors: dict[str, np.ndarray] = {}  # strategies compared on one pool ask the same questions

    def __len__(self) -> int:
        return len(self.examples)

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self._embedder is None:
            self._embedder = get_question_embedder(self.embedder_spec)
        return np.asarray(self._embedder.embed(texts), dtype=np.float32)

    def identifiers(self, db_id: str) -> set[str]:
        """The names of database `db_id` (empty when the pool cannot read its schema)."""
        if self._schema_identifiers is None or not db_id:
            return set()
        if db_id not in self._identifiers:
            self._identifiers[db_id] = set(self._schema_identifiers(db_id))
        return self._identifiers[db_id]

    def vectors(self) -> np.ndarray:
        if self._vectors is None:
            masked = [mask_question(e.question, sql_identifiers(e.query)) for e in self.examples]
            self._vectors = self._embed(masked) if masked else np.zeros((0, 1), dtype=np.float32)
        return self._vectors

    def select(self, question: str, *, identifiers: set[str], k: int, preliminary_sql: str | None = None,
               exclude_db: str | None = None, db_id: str | None = None,
               same_db: str = "any") -> list[SelectedExample]:
        """The k examples DAIL-SQL would show for this question (never from the database `exclude_db`).
        same_db says what to do with examples from the asked database `db_id`: any (rank them like the others),
        prefer (first), only (nothing else), exclude (never)."""
        if same_db not in SAME_DB_MODES:
            raise InputError(f"unknown same-database mode '{same_db}'; use one of {', '.join(SAME_DB_MODES)}")
        allowed = [i for i, e in enumerate(self.examples) if not exclude_db or e.db_id != exclude_db]
        if db_id and same_db in ("only", "exclude"):
            allowed = [i for i in allowed if (self.examples[i].db_id == db_id) == (same_db == "only")]
        if k <= 0 or not allowed:
            return []
        masked = mask_question(question, identifiers)
        if masked not in self._question_vectors:
            self._question_vectors[masked] = self._embed([masked])[0]
        target = self._question_vectors[masked]
        similarity = self.vectors()[allowed] @ target
        ranked = [allowed[j] for j in np.argsort(-similarity, kind="stable")]
        question_sim = dict(zip(allowed, similarity.tolist()))
        query_sim = ({i: skeleton_similarity(preliminary_sql, self.examples[i].query) for i in ranked}
                     if preliminary_sql else {})
        # DAIL: examples whose skeleton is close to the preliminary query first, each group by question similarity
        ranked.sort(key=lambda i: 0 if query_sim.get(i, 0.0) >= self.skeleton_threshold else 1)
        if db_id and same_db == "prefer":  # the user's own examples on this database first, each group as above
            ranked.sort(key=lambda i: self.examples[i].db_id != db_id)
        return [SelectedExample(self.examples[i], question_sim[i], query_sim.get(i)) for i in ranked[:k]]


# -- masking the shown examples ---------------------------------------------------------------------------------
def _letters(n: int) -> str:
    """0 -> a, 25 -> z, 26 -> aa: placeholder suffixes that no digit-bearing alias (T1) collides with."""
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(97 + r) + out
    return out


def _is_alias(tokens: list, i: int) -> bool:
    """A name right after AS, or right after a table name in FROM/JOIN (`FROM singer s`), or T1-style."""
    kind, text = tokens[i][0]
    if re.fullmatch(r"[Tt]\d+", text):
        return True
    previous = tokens[i - 1][0] if i else None
    if previous and previous.text == "as":
        return True
    before = tokens[i - 2][0] if i >= 2 else None
    return bool(previous and previous.kind == "name" and before and before.text in ("from", "join", ","))


def mask_example(example: SQLExample, db_identifiers: set[str] | frozenset[str] = frozenset()) -> SQLExample:
    """The example with its database's names and values rewritten to placeholders, in the query and in the
    question alike: tables -> table_a, table_b, ...; columns -> column_a, ...; string values -> 'value_a', ... .
    Aliases (T1), functions, numbers and the query's shape stay. Question words that name any other identifier of
    the example's database (`db_identifiers`, when its schema is known) become <mask>. The model sees the pattern
    of the answer, not another database's names to copy."""
    spans = token_spans(example.query)
    aliases = {spans[i][0].text.lower() for i in range(len(spans))
               if spans[i][0].kind == "name" and _is_alias(spans, i)}
    mapping: dict[str, str] = {}  # lower-cased original -> placeholder
    spelled: dict[str, str] = {}  # lower-cased original -> as the query writes it (camelCase splits into words)
    values: dict[str, str] = {}
    counts = {"table": 0, "column": 0}
    pieces, last = [], 0
    for i, (token, start, end) in enumerate(spans):
        replacement = None
        if token.kind == "string":
            text = token.text[1:-1].replace("''", "'")
            core = text.strip("%")
            key = core.lower()
            if key not in values:
                values[key] = f"value_{_letters(len(values))}"
            replacement = "'" + text.replace(core, values[key], 1).replace("'", "''") + "'" if core else None
        elif token.kind == "name" and token.text.lower() not in aliases:
            following = spans[i + 1][0].text if i + 1 < len(spans) else ""
            if following == "(":  # a function call: lower(), strftime()
                continue
            previous = spans[i - 1][0].text if i else ""
            kind = "table" if previous in ("from", "join") else "column"
            key = token.text.lower()
            if key not in mapping:
                mapping[key], spelled[key] = f"{kind}_{_letters(counts[kind])}", token.text
                counts[kind] += 1
            replacement = mapping[key]
        if replacement is not None:
            pieces += [example.query[last:start], replacement]
            last = end
    pieces.append(example.query[last:])
    question = _mask_question_names(example.question, {spelled[k]: v for k, v in mapping.items()}, values,
                                    db_identifiers)
    return SQLExample(question, "".join(pieces), example.db_id)


def _variants(name: str) -> list[str]:
    """How a question may write an identifier: its natural words, singular or plural."""
    natural = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ").lower().strip()
    forms = {natural, name.lower()}
    forms |= {f[:-1] for f in forms if f.endswith("s") and len(f) > 3}  # the table "airports" is asked "airport"
    forms |= {f + "s" for f in list(forms)} | {f + "es" for f in list(forms)}
    forms |= {f[:-1] + "ies" for f in list(forms) if f.endswith("y")}
    return sorted((f for f in forms if len(f) >= 2), key=len, reverse=True)


def _mask_question_names(question: str, mapping: dict[str, str], values: dict[str, str],
                         db_identifiers: set[str] | frozenset[str]) -> str:
    # values first, then whole names (longest first), then single words of names ("song" of song_name) and the
    # rest of the database's names, which say which domain the example is from
    named = [(r"(?<!\w)" + r"\s+".join(map(re.escape, value.split())) + r"(?!\w)", placeholder)
             for value, placeholder in values.items() if value.strip()]  # stored 'Aberdeen ' is asked "Aberdeen"
    named += [(r"\b" + re.escape(v) + r"\b", placeholder) for name, placeholder in mapping.items()
              for v in _variants(name)]
    named.sort(key=lambda item: -len(item[0]))
    parts = _name_parts(set(mapping) | set(db_identifiers))
    words = [(r"\b" + re.escape(p) + r"(?:e?s)?\b", "<mask>") for p in sorted(parts, key=len, reverse=True)
             if " " not in p]
    for pattern, placeholder in named + words:
        question = re.sub(pattern, placeholder, question, flags=re.I)
    return question
