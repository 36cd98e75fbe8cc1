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


def test_limits_are_settings_a_user_can_raise(tmp_path):
    path = tmp_path / "ingest.yaml"
    path.write_text("max_xml_mb: 256\nmax_unzipped_mb: 2048\nmax_zip_parts: 50000\nmax_image_pixels: 200000000\n"
                    "max_pdf_pages: 50000\n")
    config = load_config(path)
    assert (config.max_xml_mb, config.max_unzipped_mb, config.max_zip_parts) == (256, 2048, 50000)
    assert (config.max_image_pixels, config.max_pdf_pages) == (200_000_000, 50000)
    assert config.fingerprint() == IngestConfig().fingerprint()  # bounds, not what shapes chunks
    for name in ("max_xml_mb", "max_unzipped_mb", "max_zip_parts", "max_image_pixels", "max_pdf_pages"):
        assert IngestConfig.model_fields[name].description
    with pytest.raises(ConfigError, match="max_xml_mb"):
        load_config(max_xml_mb=0)
