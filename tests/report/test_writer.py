"""llmopt.report: the writer every command's report goes through."""

import json

from llmopt.report import LadderRow, Section, Table, bar_chart, write_report

SECRET = "sk-abcdefghijklmnopqrstuvwx"


def test_a_report_has_markdown_html_and_json_with_ladder_tables_and_plots(tmp_path):
    plot = bar_chart(tmp_path / "plots" / "speed.png", ["a", "b"], {"tok/s": [1.0, 2.0]}, "speed", "tok/s")
    ladder = [LadderRow("RAG", "rag k=5 default", "acc", 0.7, 0.6, 0.8, 1.2, 0.002, 50, "ask")]
    sections = [Section("ask", "first paragraph\n\nsecond", [Table(["x", "y"], [[1, None], [0.00012, "a|b"]], "cap")],
                        [("speed", plot)]),
                Section("sql", status="error", error="ConfigError: bad")]
    paths = write_report(tmp_path, "llmopt lab", sections, ladder, {"mode": "quick"})
    md = paths["md"].read_text()
    assert "## Ladder" in md and "| ask | RAG | rag k=5 default | acc | 0.7 | [0.6, 0.8] |" in md
    assert "| 1 | – |" in md and "| 1.20e-04 | a\\|b |" in md and "![speed](plots/speed.png)" in md
    assert "**error**: ConfigError: bad" in md
    html = paths["html"].read_text()
    assert "<p>first paragraph</p><p>second</p>" in html and "<img src='plots/speed.png'" in html
    data = json.loads(paths["json"].read_text())
    assert data["ladder"][0]["config"] == "rag k=5 default" and data["sections"][0]["plots"] == [["speed", "plots/speed.png"]]


def test_secrets_never_reach_a_report(tmp_path):
    spec = f"openai:gpt-4o-mini@https://user:hunter2@api.example/v1?key={SECRET}"
    sections = [Section("ask", f"ran llmopt ask --api-key {SECRET}", [Table(["model"], [[spec]], f"token={SECRET}")]),
                Section("eval", status="error", error=f"EndpointError: Authorization: Bearer {SECRET} refused")]
    ladder = [LadderRow("RAG", f"rag k=5 {spec}", "acc", 0.5)]
    paths = write_report(tmp_path, "llmopt lab", sections, ladder, {"model": spec, "command": f"--hf-token {SECRET}"})
    for path in paths.values():
        text = path.read_text()
        assert SECRET not in text and "hunter2" not in text, path.name
        assert "***" in text
    assert json.loads(paths["json"].read_text())["ladder"][0]["value"] == 0.5  # numbers untouched
