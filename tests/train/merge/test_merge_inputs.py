"""Every malformed input file of a merge is one InputError that names the file, never a KeyError or TypeError:
truncated or corrupt safetensors (header length, JSON, entries, dtypes, shapes, offsets), a missing tensor, a
bad shard index, a bad config.json or tokenizer.json."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from llmopt.errors import LlmoptError
from llmopt.train.merge import run_merge


def linear(a: Path, b: str) -> dict:
    return {"merge_method": "linear", "dtype": "float32",
            "models": [{"model": str(a), "parameters": {"weight": 0.5}}, {"model": b, "parameters": {"weight": 0.5}}]}


def split(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def join(header, data: bytes, length: int | None = None) -> bytes:
    encoded = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(encoded) if length is None else length) + encoded + data


def first_tensor(header: dict) -> str:
    return next(k for k in header if k != "__metadata__")


def rewrite(entry_change):
    def change(path: Path) -> None:
        header, data = split(path)
        entry_change(header, header[first_tensor(header)])
        path.write_bytes(join(header, data))
    return change


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _seven_bytes(path: Path) -> None:
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00")


def _bad_json(path: Path) -> None:
    header, data = split(path)
    encoded = json.dumps(header).encode()
    path.write_bytes(join(b"{" + b"x" * (len(encoded) - 1), data))


def _not_utf8(path: Path) -> None:
    header, data = split(path)
    path.write_bytes(join(b'{"\xff\xfe": 1}', data))


def _header_past_the_end(path: Path) -> None:
    header, data = split(path)
    encoded = json.dumps(header).encode()
    path.write_bytes(join(encoded, data, length=len(encoded) + len(data) + 4096))


def _header_a_list(path: Path) -> None:
    _header, data = split(path)
    path.write_bytes(join([1, 2, 3], data))


def _missing_tensor(path: Path) -> None:
    header, data = split(path)
    header.pop("model.norm.weight")
    path.write_bytes(join(header, data))


CORRUPTIONS = {
    "truncated": _truncated,
    "shorter than a header": _seven_bytes,
    "bad JSON header": _bad_json,
    "header not UTF-8": _not_utf8,
    "header length past the end": _header_past_the_end,
    "header not an object": _header_a_list,
    "entry not an object": rewrite(lambda header, entry: header.update({first_tensor(header): 5})),
    "no data_offsets": rewrite(lambda header, entry: entry.pop("data_offsets")),
    "no dtype": rewrite(lambda header, entry: entry.pop("dtype")),
    "unknown dtype": rewrite(lambda header, entry: entry.update(dtype="F33")),
    "dtype not a string": rewrite(lambda header, entry: entry.update(dtype=["F32"])),
    "shape a string": rewrite(lambda header, entry: entry.update(shape="12")),
    "negative dimension": rewrite(lambda header, entry: entry.update(shape=[-1, *entry["shape"][1:]])),
    "shape disagrees with bytes": rewrite(lambda header, entry: entry.update(shape=[1])),
    "offsets reversed": rewrite(lambda header, entry: entry.update(data_offsets=entry["data_offsets"][::-1])),
    "offsets not numbers": rewrite(lambda header, entry: entry.update(data_offsets=["0", "8"])),
    "one offset": rewrite(lambda header, entry: entry.update(data_offsets=[0])),
    "missing tensor": _missing_tensor,
}


@pytest.fixture
def broken_copy(tiny_models, tmp_path):
    def copy(name: str = "m0") -> Path:
        target = tmp_path / f"broken-{name}"
        shutil.copytree(tiny_models[name], target)
        return target
    return copy


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_malformed_safetensors_file_is_one_error_naming_it(tiny_models, broken_copy, tmp_path, corruption):
    folder = broken_copy()
    CORRUPTIONS[corruption](folder / "model.safetensors")
    with pytest.raises(LlmoptError) as info:
        run_merge(linear(folder, tiny_models["m2"]), tmp_path / "out")
    message = str(info.value)
    assert "broken-m0" in message and "\n" not in message, message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"num_hidden_layers": "four"}', b""])
def test_a_bad_config_json_is_one_error_naming_it(tiny_models, broken_copy, tmp_path, content):
    folder = broken_copy()
    (folder / "config.json").write_bytes(content)
    with pytest.raises(LlmoptError) as info:
        run_merge(linear(folder, tiny_models["m2"]), tmp_path / "out", dry_run=True)
    message = str(info.value)
    assert "config.json" in message and "broken-m0" in message and "\n" not in message, message


@pytest.mark.parametrize("content", ["{not json", "[]", '{"weight_map": 3}', '{"weight_map": {"a": 5}}',
                                     '{"weight_map": {"a": "../../etc/passwd"}}', "{}"])
def test_a_bad_shard_index_is_one_error_naming_it(tiny_models, broken_copy, tmp_path, content):
    folder = broken_copy("m1")
    (folder / "model.safetensors.index.json").write_text(content)
    with pytest.raises(LlmoptError) as info:
        run_merge(linear(folder, tiny_models["m2"]), tmp_path / "out", dry_run=True)
    message = str(info.value)
    assert "model.safetensors.index.json" in message and "\n" not in message, message


def test_a_bad_tokenizer_json_is_one_error_naming_it(tiny_models, broken_copy, tmp_path):
    folder = broken_copy()
    (folder / "tokenizer.json").write_text("{not json")
    config = {**linear(folder, tiny_models["m2"]), "tokenizer_source": "union"}
    with pytest.raises(LlmoptError) as info:
        run_merge(config, tmp_path / "out")
    assert "tokenizer" in str(info.value) and "\n" not in str(info.value)


def test_a_bad_tokenizer_config_is_one_error_naming_it(tiny_models, broken_copy, tmp_path):
    folder = broken_copy()
    (folder / "tokenizer_config.json").write_text("{not json")
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config = {**linear(folder, tiny_models["m2"]), "chat_template": "auto"}
    with pytest.raises(LlmoptError) as info:
        run_merge(config, tmp_path / "out")
    assert "tokenizer_config.json" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("options", [{"max_shard_size": "abc"}, {"max_shard_size": "-5GB"}, {"threads": -3}])
def test_bad_merge_options_are_one_config_error(tiny_models, tmp_path, options):
    from llmopt.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        run_merge(linear(Path(tiny_models["m0"]), tiny_models["m2"]), tmp_path / "out", **options)
    assert "\n" not in str(info.value) and not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["the input", "a folder holding the input"])
def test_the_output_never_replaces_an_input_model(tiny_models, broken_copy, tmp_path, where):
    from llmopt.errors import ConfigError

    folder = broken_copy()
    before = sorted((p.name, p.stat().st_size) for p in folder.iterdir())
    out = folder if where == "the input" else folder.parent
    with pytest.raises(ConfigError, match="would replace the input model"):
        run_merge(linear(folder, tiny_models["m2"]), out, overwrite=True)
    assert sorted((p.name, p.stat().st_size) for p in folder.iterdir()) == before
