import pytest

from llmopt.errors import ConfigError
from llmopt.ingest.config import IngestConfig, load_config


def test_defaults_and_picture_mode():
    config = IngestConfig()
    assert config.chunk_tokens == 200 and config.picture_mode == "ocr" and config.converter == "native"
    assert IngestConfig(vlm="openai:granite@http://x/v1").picture_mode == "vlm"


def test_validation_names_the_field(tmp_path):
    with pytest.raises(ConfigError, match="overlap_tokens .* must be smaller"):
        load_config(overlap_tokens=300)
    with pytest.raises(ConfigError, match="needs a model: set vlm"):
        load_config(pictures="vlm")
    with pytest.raises(ConfigError, match="chunk_tokens"):
        load_config(chunk_tokens=4)
    bad = tmp_path / "bad.yaml"
    bad.write_text("chunk_tokenz: 100\n")
    with pytest.raises(ConfigError, match="chunk_tokenz"):
        load_config(bad)


def test_yaml_with_overrides(tmp_path):
    path = tmp_path / "ingest.yaml"
    path.write_text("chunk_tokens: 120\noverlap_tokens: 10\npictures: caption\n")
    config = load_config(path, overlap_tokens=20, pictures=None)
    assert (config.chunk_tokens, config.overlap_tokens, config.pictures) == (120, 20, "caption")


def test_fingerprint_tracks_only_what_shapes_chunks():
    base = IngestConfig().fingerprint()
    assert IngestConfig(max_file_mb=1, embed_batch=8).fingerprint() == base
    assert IngestConfig(chunk_tokens=150).fingerprint() != base
    assert IngestConfig(pictures="caption").fingerprint() != base
