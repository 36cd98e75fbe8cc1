import pytest
from safetensors.torch import load_file

from llmopt.errors import ConfigError
from llmopt.train.distill.prune import parse_layers, prune_depth


def test_layer_specs():
    assert parse_layers("layers=every:2", 6) == [0, 2, 4]
    assert parse_layers("layers=0,3-4", 6) == [0, 3, 4]
    assert parse_layers("first:2", 6) == [0, 1]
    assert parse_layers("layers=drop:1-4", 6) == [0, 5]
    with pytest.raises(ConfigError, match="0-5"):
        parse_layers("layers=0,9", 6)
    with pytest.raises(ConfigError, match="every:2"):
        parse_layers("layers=half:3", 6)


def test_pruned_student_has_the_requested_layers_and_loads(teacher, tmp_path):
    student = prune_depth(teacher, "layers=1,3", tmp_path / "student")
    t, s = load_file(str(teacher / "model.safetensors")), load_file(str(student / "model.safetensors"))
    assert {k.split(".")[2] for k in s if ".layers." in k} == {"0", "1"}
    for part in ("self_attn.q_proj.weight", "mlp.down_proj.weight", "input_layernorm.weight"):
        assert (s[f"model.layers.0.{part}"] == t[f"model.layers.1.{part}"]).all()
        assert (s[f"model.layers.1.{part}"] == t[f"model.layers.3.{part}"]).all()
    assert (s["model.embed_tokens.weight"] == t["model.embed_tokens.weight"]).all()
    from llmopt import get_model

    llm = get_model(f"hf:{student}", cache=False)
    assert llm.model.config.num_hidden_layers == 2
    assert llm.generate("add 1 and 2", max_tokens=2).completion_tokens >= 1
