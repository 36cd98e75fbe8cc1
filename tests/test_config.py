from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmopt.config import load_config, read_yaml, validate
from llmopt.errors import ConfigError


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    weight: float = 1.0


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["full", "lora"] = "lora"
    max_steps: int = Field(10, ge=1)
    parts: list[Inner] = []
    label: str | None = None

    @model_validator(mode="after")
    def _label_needs_parts(self):
        if self.label and not self.parts:
            raise ValueError("a label needs parts; add parts or drop label")
        return self


def test_defaults_base_file_and_overrides_in_that_order(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("method: full\nmax-steps: 3\n")  # a dashed key, as the flag is written
    assert load_config(Settings) == Settings()
    config = load_config(Settings, path, base={"max_steps": 7, "method": "lora"}, overrides={"max_steps": 5})
    assert (config.method, config.max_steps) == ("full", 5)
    assert load_config(Settings, path, overrides={"method": None}).method == "full"  # None: not given
    assert load_config(Settings, base=config).max_steps == 5


def test_a_section_of_a_shared_file(tmp_path):
    path = tmp_path / "all.yaml"
    path.write_text("sql:\n  max_steps: 4\nserve:\n  port: 1\n")
    assert load_config(Settings, path, section="sql").max_steps == 4
    assert read_yaml(path, section="other") == {"sql": {"max_steps": 4}, "serve": {"port": 1}}


@pytest.mark.parametrize("content, message", [
    (None, "config file not found: .*none.yaml; pass an existing YAML file of run settings"),
    ("method: [full\n", "not valid YAML .*; fix the file"),
    ("- a\n- b\n", "write a mapping of run settings .*not a list"),
    (b"\xff\xfe\x00", "not a text file"),
])
def test_file_problems_are_one_line(tmp_path, content, message):
    path = tmp_path / "none.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(Settings, path, what="run")
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="is a folder"):
        read_yaml(tmp_path)


def test_validation_names_the_field_the_value_and_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("method: qlora\n")
    with pytest.raises(ConfigError) as info:
        load_config(Settings, path, overrides={"max_steps": 0}, what="run")
    assert str(info.value) == (f"bad run settings: method: Input should be 'full' or 'lora' (got 'qlora') (in {path}); "
                               "max_steps: Input should be greater than or equal to 1 (got 0)")  # 0 came from a flag


def test_unknown_keys_list_the_keys_of_their_level():
    with pytest.raises(ConfigError, match="bogus: Extra inputs are not permitted \\(unknown key 'bogus' at bogus; "
                                          "supported keys: method, max_steps, parts, label\\)"):
        validate(Settings, {"bogus": 1})
    with pytest.raises(ConfigError, match="unknown key 'wieght' at parts.1.wieght; supported keys: name, weight"):
        validate(Settings, {"parts": [{"name": "a"}, {"name": "b", "wieght": 2}]})


def test_a_model_level_rule_reads_as_its_own_message():
    with pytest.raises(ConfigError, match="^bad settings: a label needs parts; add parts or drop label$"):
        validate(Settings, {"label": "x"})


def test_a_user_price_file_that_is_not_a_mapping_is_one_line(tmp_path, monkeypatch):
    from llmopt import pricing

    path = tmp_path / "prices.yaml"
    path.write_text("- gpt-4o: 1\n")
    monkeypatch.setenv("LLMOPT_PRICES", str(path))
    pricing.price_table.cache_clear()
    with pytest.raises(ConfigError, match="prices.yaml: write a mapping of price settings"):
        pricing.price_table()
    pricing.price_table.cache_clear()


def test_a_required_setting_missing_from_the_file_names_the_file(tmp_path):
    class Needs(BaseModel):
        data: str

    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(ConfigError, match=f"^bad settings: data: Field required \\(in {path}\\)$"):
        load_config(Needs, path)
    with pytest.raises(ConfigError, match="^bad settings: data: Field required$"):
        load_config(Needs)
