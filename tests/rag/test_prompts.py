import pytest

from llmopt.errors import ConfigError
from llmopt.rag.prompts import EXAMPLE_VARS, load_template, shipped_templates


def test_shipped_templates_cover_the_practices_users_compare():
    shipped = shipped_templates()
    assert {"basic", "cot", "decompose"} <= set(shipped)
    assert load_template("cot").answer_marker == "So the final answer is:"
    assert "step by step" in load_template("cot").render(**EXAMPLE_VARS)
    assert "sub-question" in load_template("decompose").render(**EXAMPLE_VARS).lower()
    assert load_template("basic").answer_marker == ""


def test_iterative_format_shows_the_chain_in_demonstrations():
    demo = {**EXAMPLE_VARS["demonstrations"][0], "chain": [{"question": "Which team?", "answer": "audit"}]}
    text = load_template("basic").render(**{**EXAMPLE_VARS, "iterative": True, "demonstrations": [demo]})
    assert "Follow up: Which team?\nIntermediate answer: audit\nSo the final answer is: 2023" in text
    assert "Follow up:" in text.split("Example 1")[0]  # the instructions explain the format


def test_user_template_extends_base_and_sets_its_marker(tmp_path):
    path = tmp_path / "mine.j2"
    path.write_text('{% extends "base.j2" %}\n{% set answer_marker = "ANSWER:" %}\n{% set max_tokens = 12 %}\n'
                    "{% block answer_format %}End with ANSWER: and the answer.{% endblock %}\n")
    template = load_template(str(path))
    assert template.answer_marker == "ANSWER:" and template.max_tokens == 12
    assert "End with ANSWER:" in template.render(**EXAMPLE_VARS)


def test_bad_templates_fail_with_one_clear_line(tmp_path):
    with pytest.raises(ConfigError, match="shipped: basic, cot, decompose"):
        load_template("nonexistent")
    broken = tmp_path / "broken.j2"
    broken.write_text("{% if question %}no end")
    with pytest.raises(ConfigError, match="broken.j2"):
        load_template(str(broken))
    missing_var = tmp_path / "typo.j2"
    missing_var.write_text("{{ questoin }}")
    with pytest.raises(ConfigError, match="questoin"):
        load_template(str(missing_var))
    with pytest.raises(ConfigError, match="not found"):
        load_template(str(tmp_path / "absent.j2"))
