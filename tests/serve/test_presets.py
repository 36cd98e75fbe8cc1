"""The preset registry and the model-name grammar STRATEGY[:key=value,...][@MODEL_SPEC]."""

import pytest

from llmopt.serve.config import PresetSpec, make_config
from llmopt.serve.errors import ApiError
from llmopt.serve.presets import Presets


def presets(index=True, demos=False, db=False, **settings):
    return Presets(make_config(None, **settings), has_index=index, has_demos=demos, has_db=db)


def test_builtin_presets_need_what_the_server_has():
    assert presets().names() == ["none", "rag-k5", "rag-k5-sc5", "iterdrag-n3"]
    full = presets(demos=True, db=True).names()
    assert {"drag-k5-m4", "sql-zero", "sql-fewshot-sc"} <= set(full)
    bare = presets(index=False)
    assert bare.names() == ["none"]
    assert "--index" in bare.unavailable["rag-k5"] and "--db" in bare.unavailable["sql-fewshot-sc"]


def test_a_preset_resolves_to_its_strategy_settings_and_the_server_model():
    r = presets(model="fake:ok").resolve("rag-k5-sc5")
    assert (r.kind, r.strategy, r.model) == ("rag", "rag", "fake:ok")
    assert r.settings == {"k": 5, "samples": 5, "select": "vote"}


def test_parameters_and_a_model_spec_split_at_the_first_at_sign():
    p = presets(allow_models=["openai:*"])
    r = p.resolve("drag:k=5,m=0@openai:granite@http://127.0.0.1:9/v1")
    assert (r.strategy, r.model, r.settings) == ("drag", "openai:granite@http://127.0.0.1:9/v1", {"k": 5, "m": 0})
    r = p.resolve("iterdrag-n3:n=2,temperature=0.5")
    assert r.settings == {"k": 5, "n": 2, "temperature": 0.5} and r.preset == "iterdrag-n3"


def test_unknown_names_list_the_presets_and_the_grammar():
    with pytest.raises(ApiError) as info:
        presets().resolve("gpt-4o")
    assert info.value.status == 404 and info.value.code == "model_not_found"
    assert "rag-k5" in info.value.message and "STRATEGY[:key=value" in info.value.message


def test_a_preset_whose_needs_are_missing_says_what_to_pass():
    with pytest.raises(ApiError) as info:
        presets().resolve("drag-k5-m4")
    assert info.value.status == 400 and "--demos" in info.value.message
    with pytest.raises(ApiError) as info:
        presets().resolve("drag:m=2")
    assert "--demos" in info.value.message
    with pytest.raises(ApiError) as info:
        presets(index=False).resolve("rag:k=3")
    assert "--index" in info.value.message


@pytest.mark.parametrize("name, fragment", [
    ("rag:index=other", "cannot be set"),          # the operator's choice, not the client's
    ("rag:demos=/etc/passwd", "cannot be set"),
    ("rag:prompt=/etc/passwd.j2", "unknown prompt"),  # a client never names a file
    ("rag:k", "key=value"),
    ("rag:k=500", "limit of 50"),
    ("rag:samples=99", "limit of 16"),
    ("rag:max_context=999999", "limit of 32768"),
])
def test_client_parameters_are_limited(name, fragment):
    with pytest.raises(ApiError) as info:
        presets().resolve(name)
    assert info.value.status == 400 and fragment in info.value.message


def test_only_allowed_model_specs_may_follow_the_at_sign():
    with pytest.raises(ApiError) as info:
        presets().resolve("rag-k5@openai:x@http://10.0.0.1/v1")  # a client must not point the server anywhere
    assert info.value.status == 403 and "--allow-model" in info.value.message
    assert presets(allow_models=["openai:x@http://10.*"]).resolve("rag-k5@openai:x@http://10.0.0.1/v1").model
    assert presets().resolve("rag-k5@default").model == "default"  # the server's own model is always allowed
    with pytest.raises(ApiError) as info:
        presets(allow_models=["*"]).resolve("rag@nope:x")
    assert info.value.status == 400 and "unknown engine" in info.value.message


def test_operator_presets_from_config_replace_or_extend_the_builtins():
    p = presets(presets={"rag-k8": {"strategy": "rag", "k": 8, "description": "more"}}, builtin_presets=False)
    assert p.names() == ["rag-k8"] and p.describe("rag-k8")["params"] == {"k": 8}
    with pytest.raises(ApiError):
        presets(presets={"huge": PresetSpec(strategy="rag", k=100)})  # over a limit: fails at startup


def test_yaml_config_and_flags_merge(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text("serve:\n  model: fake:ok\n  limits: {max_queue: 3, max_tokens: 64}\n"
                    "  presets:\n    sql-sc7: {kind: sql, strategy: fewshot-sc, samples: 7}\n")
    config = make_config(path, limits={"max_tokens": 32}, port=9001)
    assert (config.model, config.port, config.limits.max_queue, config.limits.max_tokens) == ("fake:ok", 9001, 3, 32)
    assert config.presets["sql-sc7"].settings == {"samples": 7}
