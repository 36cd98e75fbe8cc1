"""The embedded default model (SmolLM2-135M) generating from two real documents through a real index: the whole
path runs, every candidate ends accepted or rejected for a named reason, and the files say the quality is low."""

import json

import pytest

from llmopt.datagen import generate_questions
from llmopt.datagen.filters import REASONS
from llmopt.errors import InputError
from llmopt.eval.datasets import load_dataset
from llmopt.index import open_index
from llmopt.jsonl import read_jsonl

pytestmark = pytest.mark.integration

DOCS = {
    "labs.md": "# Harbor Labs\n\nHarbor Labs was founded in 2011 by Mira Okafor in Lisbon. The company builds "
               "inspection drones for bridges and employs 120 engineers.\n",
    "people.md": "# People\n\nMira Okafor studied physics at the University of Porto before founding her company. "
                 "The Porto plant is managed by Jonas Lie, who joined in 2019 from a shipping firm in Bergen.\n",
}


@pytest.mark.slow  # ~40 s of CPU: model load, ingest, 2 to 4 calls
def test_default_model_on_two_documents(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text)
    out = tmp_path / "generated"
    result = generate_questions([docs], index=str(tmp_path / "idx"), out=str(out), count=1, max_candidates=2,
                                kinds=["single", "multi"])
    assert 1 <= result.tried <= 2 and len(result.rows) + sum(result.rejected.values()) == result.tried
    assert set(result.rejected) <= set(REASONS) and result.usage.calls >= result.tried
    assert "SmolLM2-135M" in result.quality and "smoke tests" in result.quality
    summary = json.loads((out / "generated.json").read_text())
    assert summary["generator"] == "default" and summary["quality"] == result.quality
    log = read_jsonl(out / "candidates.jsonl")
    assert len(log) == result.tried and all(r["status"] in ("accepted", "rejected") for r in log)
    with open_index(str(tmp_path / "idx"), recover=False) as index:
        ids = {c.chunk_id for c in index.chunks()}
    if result.rows:  # a 135M model may well have had every candidate rejected; when not, the file is usable
        (item,) = load_dataset(out / "eval.jsonl").items
        assert set(item.evidence) <= ids and item.metadata["kind"] in ("single", "multi")


def test_documents_that_give_no_chunks_are_one_line(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    with pytest.raises(InputError, match=r"holds no chunks \(not ingested: .*broken.pdf: .*PDF"):
        generate_questions([docs], index=str(tmp_path / "idx"), out=str(tmp_path / "out"), embedder="hash:64")
