"""Value grounding: the literals a question mentions, matched to the values the database actually stores.

A question says "Aberdeen"; Spider's flight_2 stores 'Aberdeen ' (a trailing space), so `City = 'Aberdeen'` finds
nothing. The index holds the distinct text values of every text column (built once per database and cached on
disk, keyed by the file's path, modification time and size); a question's literals -- quoted strings, capitalised
phrases, numbers and word n-grams -- are matched to it case- and whitespace-insensitively (and fuzzily, for the
quoted and capitalised ones), and the matches are shown to the model as candidate filters with the exact stored
value: `airports.City = 'Aberdeen '`.

Fuzzy matching uses the standard library's difflib (SequenceMatcher ratio): deterministic on every machine, no
extra dependency, fast enough over a capped index. Everything but `load_value_index` is pure.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..paths import atomic_write_text, subdir
from .safe import SafeDatabase
from .schema import DatabaseSchema, format_value, quote_name
from .tokens import tokenize

VALUES_PER_COLUMN = 2000  # distinct values indexed per column: enough for names and categories, bounded memory
VALUE_CHARS = 80  # longer texts are descriptions, not something a question filters on
FUZZY_CUTOFF = 0.85  # difflib ratio a quoted or capitalised literal needs to match a stored value
MAX_MATCHES = 8  # candidate filters shown per question
INDEX_VERSION = 1  # bump when the cached file's layout changes

_STOPWORDS = frozenset("""
a an the of in on at to for from by with and or not no is are was were be been being do does did has have had
what which who whom whose when where why how many much list show give find name names tell me all each every any
that this these those there their its it than then as more most less least number count total average there
""".split())
_QUESTION_WORDS = frozenset({"what", "which", "who", "whom", "whose", "when", "where", "why", "how", "list",
                             "show", "give", "find", "return", "count", "tell", "name", "the", "for", "of", "in",
                             "and", "or"})


@dataclass(frozen=True)
class ValueMatch:
    table: str
    column: str
    value: str  # exactly as stored
    literal: str  # the question's words it matched
    score: float  # 1.0: equal up to case and whitespace; below: fuzzy ratio

    def filter_sql(self) -> str:
        return f"{quote_name(self.table)}.{quote_name(self.column)} = {format_value(self.value)}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ValueIndex:
    """Distinct text values per (table, column), and a lookup by normalised value."""

    values: dict[tuple[str, str], list[str]]

    def __post_init__(self) -> None:
        self._by_norm: dict[str, list[tuple[str, str, str]]] = {}
        for (table, column), values in self.values.items():
            for value in values:
                self._by_norm.setdefault(normalize(value), []).append((table, column, value))
        self._norms = list(self._by_norm)

    def exact(self, text: str) -> list[tuple[str, str, str]]:
        return self._by_norm.get(normalize(text), [])

    def fuzzy(self, text: str, cutoff: float = FUZZY_CUTOFF) -> list[tuple[tuple[str, str, str], float]]:
        norm = normalize(text)
        close = difflib.get_close_matches(norm, self._norms, n=3, cutoff=cutoff)
        return [(hit, difflib.SequenceMatcher(None, norm, found).ratio()) for found in close
                for hit in self._by_norm[found]]

    def to_json(self) -> str:
        return json.dumps({"version": INDEX_VERSION,
                           "values": [[t, c, v] for (t, c), v in self.values.items()]})

    @classmethod
    def from_json(cls, text: str) -> "ValueIndex | None":
        data = json.loads(text)
        if data.get("version") != INDEX_VERSION:
            return None
        return cls({(t, c): list(v) for t, c, v in data["values"]})


def normalize(text: str) -> str:
    """Case- and whitespace-insensitive form: 'Aberdeen ' and 'aberdeen' are one value."""
    return " ".join(str(text).split()).casefold()


# -- the index (I/O) ---------------------------------------------------------------------------------------------
def build_value_index(db: SafeDatabase, schema: DatabaseSchema, *, per_column: int = VALUES_PER_COLUMN) -> ValueIndex:
    """Distinct short text values of every column (whatever its declared type: SQLite stores what it is given)."""
    values: dict[tuple[str, str], list[str]] = {}
    for table in schema.tables:
        for column in table.columns:
            col, tab = quote_name(column.name), quote_name(table.name)
            sql = (f"SELECT DISTINCT {col} FROM {tab} WHERE typeof({col}) = 'text' AND length({col}) <= "
                   f"{VALUE_CHARS} LIMIT {int(per_column)}")
            try:
                found = [r[0] for r in db.execute(sql, max_rows=per_column, timeout_s=5.0).rows]
            except Exception:  # a broken column (bad collation, huge table) must not lose the others
                continue
            if found:
                values[(table.name, column.name)] = found
    return ValueIndex(values)


def cache_key(path: Path, per_column: int) -> str:
    stat = path.stat()
    raw = json.dumps([str(path.resolve()), stat.st_mtime_ns, stat.st_size, per_column, INDEX_VERSION])
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def load_value_index(db: SafeDatabase, schema: DatabaseSchema, *, per_column: int = VALUES_PER_COLUMN,
                     cache_dir: Path | None = None) -> ValueIndex:
    """The database's value index from the on-disk cache (LLMOPT_HOME/sql-values), built and stored on a miss. An
    edited database (another mtime or size) gets a new index; a damaged cache file is rebuilt."""
    folder = cache_dir or subdir("sql-values")
    file = folder / f"{cache_key(db.path, per_column)}.json"
    if file.is_file():
        try:
            index = ValueIndex.from_json(file.read_text(encoding="utf-8"))
            if index is not None:
                return index
        except (ValueError, KeyError, TypeError):
            pass
    index = build_value_index(db, schema, per_column=per_column)
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(file, index.to_json())
    return index


# -- literals and matching (pure) ----------------------------------------------------------------------------------
def question_literals(question: str, max_words: int = 4) -> tuple[list[str], list[str]]:
    """(strong, weak) literals of a question. Strong: quoted strings, capitalised phrases, numbers -- the
    question's own spelling of a value, matched fuzzily. Weak: word n-grams (up to max_words), matched only up to
    case and whitespace."""
    strong = [m.group(1) or m.group(2) or m.group(3) for m in
              re.finditer(r"\"([^\"]+)\"|'([^']+)'|“([^”]+)”", question)]
    words = re.findall(r"\w(?:[\w.&'-]*\w)?", question)
    phrase: list[str] = []
    for i, word in enumerate(words + [""]):
        capital = word[:1].isupper() and not (i == 0 and word.lower() in _QUESTION_WORDS)
        if capital:
            phrase.append(word)
            continue
        if phrase:
            strong.append(" ".join(phrase))
            phrase = []
    strong += [w for w in words if re.fullmatch(r"\d+(\.\d+)?", w)]
    weak = []
    for n in range(1, max_words + 1):
        for i in range(len(words) - n + 1):
            gram = words[i:i + n]
            if all(w.lower() in _STOPWORDS for w in gram) or gram[0].lower() in _STOPWORDS and n > 1:
                continue
            weak.append(" ".join(gram))
    return _unique(strong), _unique(weak)


def ground_values(question: str, index: ValueIndex, *, cutoff: float = FUZZY_CUTOFF,
                  limit: int = MAX_MATCHES) -> list[ValueMatch]:
    """Stored values the question names, best first: exact (normalised) matches of any literal or n-gram, then
    fuzzy matches of the strong literals. Longer literals win over the words inside them."""
    strong, weak = question_literals(question)
    found: dict[tuple[str, str, str], ValueMatch] = {}
    for literal in sorted(set(strong) | set(weak), key=lambda s: -len(s)):
        for table, column, value in index.exact(literal):
            found.setdefault((table, column, value), ValueMatch(table, column, value, literal, 1.0))
    for literal in strong:
        if len(normalize(literal)) < 3 or re.fullmatch(r"\d+(\.\d+)?", literal):
            continue
        for (table, column, value), score in index.fuzzy(literal, cutoff):
            found.setdefault((table, column, value), ValueMatch(table, column, value, literal, round(score, 3)))
    ranked = sorted(found.values(), key=lambda m: (-m.score, -len(m.literal), m.table, m.column))
    return ranked[:limit]


def filters_text(matches: Sequence[ValueMatch]) -> str:
    """The prompt's hint: each match as a filter with the exact stored value."""
    if not matches:
        return ""
    lines = ["/* Values stored in the database that the question may refer to (use them exactly as written): */"]
    lines += [f"-- {m.filter_sql()}" for m in matches]
    return "\n".join(lines)


def sql_literals(sql: str) -> list[str]:
    """The string literals of a query (LIKE patterns without their % and _ wildcards at the ends)."""
    out = []
    for kind, text in tokenize(sql):
        if kind == "string":
            out.append(text[1:-1].replace("''", "'").strip("%"))
    return [s for s in out if s]


def ungrounded_literals(sql: str, matches: Sequence[ValueMatch]) -> list[str]:
    """A query's string literals that name a value grounding found, spelled otherwise than it is stored ('Aberdeen'
    where the database holds 'Aberdeen '). A LIKE pattern passes when it matches a stored value; literals
    grounding knows nothing about pass."""
    if not matches:
        return []
    stored = [m.value for m in matches]
    named = {normalize(m.value) for m in matches} | {normalize(m.literal) for m in matches}
    out = []
    for kind, text in tokenize(sql):
        if kind != "string":
            continue
        raw = text[1:-1].replace("''", "'")
        core = raw.strip("%")
        if not core or normalize(core) not in named:
            continue
        spelled = any(core.casefold() in v.casefold() for v in stored) if core != raw else raw in stored
        if not spelled:
            out.append(raw)
    return out


def grounding_hits(gold_sql: str, matches: Iterable[ValueMatch]) -> tuple[int, int]:
    """(gold literals found among the grounded values, gold literals): the grounding hit rate's parts. A literal
    counts as found when a grounded value equals it up to case and whitespace (LIKE '%x%' counts as x)."""
    literals = sql_literals(gold_sql)
    grounded = {normalize(m.value) for m in matches}
    return sum(1 for s in literals if normalize(s) in grounded), len(literals)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i.strip()))
