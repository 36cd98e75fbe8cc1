"""The mergekit-compatible configuration: validation with one-line errors, parameter values and precedence."""

from __future__ import annotations

import pytest

from llmopt.errors import ConfigError
from llmopt.train.merge.config import MergeConfiguration, evaluate_setting, load_config
from llmopt.train.merge.methods import get_method
from llmopt.train.merge.parameters import resolve_tensor, unused_parameter_warnings

TIES = {"merge_method": "ties", "base_model": "base",
        "models": [{"model": "a", "parameters": {"weight": 0.5, "density": [0.2, 0.8]}}, {"model": "b"}],
        "parameters": {"weight": 0.3, "normalize": "true"}, "dtype": "bf16"}


def test_a_mergekit_config_loads_from_yaml(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("merge_method: slerp\nbase_model: a\nslices:\n  - sources:\n      - model: a\n"
                    "        layer_range: [0, 4]\n      - model: b@main\n        layer_range: [0, 4]\n"
                    "parameters:\n  t:\n    - filter: self_attn\n      value: [0, 1]\n    - value: 0.5\n"
                    "dtype: bfloat16\ntokenizer_source: base\n")
    config = load_config(path)
    assert config.merge_method == "slerp" and config.dtype == "bfloat16"
    assert config.slices[0].sources[1].model.revision == "main"
    assert [str(m) for m in config.referenced_models()] == ["a", "b@main"]
    assert load_config(config.model_dump(mode="json")) == config  # round trip


@pytest.mark.parametrize("change, message", [
    ({"merge_method": "soup"}, "unknown merge_method 'soup'; supported: arcee_fusion, breadcrumbs"),
    ({"modles": []}, "unknown key 'modles' at modles; supported keys: merge_method, models, slices"),
    ({"slices": [{"sources": [{"model": "a", "layer_range": [0, 2]}]}]}, "exactly one of 'models'"),
    ({"dtype": "int4"}, "unknown dtype 'int4'"),
    ({"base_model": "a+lora"}, "LoRA references"),
    ({"modules": {"text": {}}}, "'modules' (multi-module"),
    ({"chat_template": "chatml"}, "chat_template must be 'auto' or the Jinja template"),
])
def test_bad_configs_get_one_line_errors_naming_the_fix(change, message):
    with pytest.raises(ConfigError) as info:
        load_config({**TIES, **change})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_unknown_key_inside_a_model_lists_that_level_keys():
    bad = {**TIES, "models": [{"model": "a", "weights": 1}]}
    with pytest.raises(ConfigError, match="unknown key 'weights' at models.0.weights; supported keys: model, parameters"):
        load_config(bad)


def test_missing_config_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("merge_method: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_settings_scalars_gradients_and_filters():
    assert evaluate_setting(0.5, "x", 0.0) == 0.5
    assert evaluate_setting([0.0, 1.0, 0.0], "x", 0.25) == pytest.approx(0.5)
    assert evaluate_setting([0.0, 1.0, 0.0], "x", 1.0) == 0.0
    assert evaluate_setting([True, False], "x", 0.4, bool) is True  # non-numeric: nearest lower entry
    assert evaluate_setting("true", "x", 0.0, bool) is True
    config = MergeConfiguration.model_validate({**TIES, "parameters": {"t": [
        {"filter": "self_attn", "value": [0.0, 1.0]}, {"filter": "*", "value": 0.3}]}})
    setting = config.parameters["t"]
    assert evaluate_setting(setting, "model.layers.3.self_attn.q_proj.weight", 0.5) == pytest.approx(0.5)
    assert evaluate_setting(setting, "model.layers.3.mlp.up_proj.weight", 0.5) == pytest.approx(0.3)
    only_attn = MergeConfiguration.model_validate({**TIES, "parameters": {"t": [{"filter": "attn", "value": 1}]}})
    assert evaluate_setting(only_attn.parameters["t"], "mlp.weight", 0.0) is None


def test_model_parameters_win_over_global_ones_and_base_gets_no_weight():
    config = load_config(TIES)
    method = get_method("ties")
    scopes = [[m.parameters, None, config.parameters] for m in config.models] + [[None, None, config.parameters]]
    shared, per_input = resolve_tensor(method, [None, config.parameters], scopes, "w", ["w", "w", "w"],
                                       ["a", "b", "base"], 0.5, base_index=2)
    assert shared["normalize"] is True and shared["lambda"] == 1.0
    assert per_input[0] == {"weight": 0.5, "density": pytest.approx(0.5)}  # gradient [0.2, 0.8] at t = 0.5
    assert per_input[1] == {"weight": 0.3, "density": 1.0}  # global weight, default density
    assert per_input[2] == {}


def test_missing_required_parameter_and_unused_parameter_warning():
    config = load_config({**TIES, "parameters": {"gamma": 0.1}})
    with pytest.raises(ConfigError, match="missing parameter 'weight' for b"):
        resolve_tensor(get_method("ties"), [None, config.parameters], [[None, None, config.parameters]], "w", ["w"],
                       ["b"], 0.0, base_index=None)
    warnings = unused_parameter_warnings(config, get_method("ties"))
    assert warnings == ["parameter 'gamma' does not apply to ties and is ignored (its parameters: weight, density, "
                        "normalize, rescale, lambda, int8_mask)"]
