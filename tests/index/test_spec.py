import pytest

from llmopt.errors import ConfigError
from llmopt.index.spec import parse_index_spec


def test_a_name_lives_under_llmopt_home(llmopt_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()  # a folder of the same name in the cwd does not change what a name means
    location = parse_index_spec("docs")
    assert location.folder == llmopt_home / "indexes" / "docs" and not location.is_remote
    assert location.lite_path.name.endswith(".db") and location.collection == "chunks"


def test_paths_and_uris(tmp_path, monkeypatch):
    assert parse_index_spec(str(tmp_path / "idx")).folder == tmp_path / "idx"
    monkeypatch.chdir(tmp_path)
    assert parse_index_spec("./rel").folder == tmp_path / "rel"
    monkeypatch.setenv("MILVUS_TOKEN", "root:Milvus")
    remote = parse_index_spec("milvus://10.0.0.5:19531/docs_v2")
    assert remote.is_remote and remote.uri == "http://10.0.0.5:19531" and remote.collection == "docs_v2"
    assert remote.token == "root:Milvus" and remote.folder.parts[-3:] == ("@milvus", "10.0.0.5_19531", "docs_v2")
    assert parse_index_spec("milvus+https://db.example:443/c").uri == "https://db.example:443"
    assert parse_index_spec("milvus://host/c").uri == "http://host:19530"


@pytest.mark.parametrize("spec, message", [
    ("", "empty index spec"), ("milvus://host:1", "write milvus://HOST:PORT/COLLECTION"),
    ("milvus://h:1/9bad", "bad Milvus collection name"), ("s3://bucket/x", "unknown index scheme"),
    ("bad name!", "bad index name"),
])
def test_bad_specs(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_index_spec(spec)
