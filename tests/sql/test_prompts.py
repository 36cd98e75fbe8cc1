from llmopt.sql.examples import SelectedExample, SQLExample
from llmopt.sql.prompts import build_messages, extract_sql, repair_messages


def test_extract_sql_after_the_prefill():
    assert extract_sql(" count(*) FROM t", prefilled=True) == "SELECT count(*) FROM t"
    assert extract_sql("name FROM t\n```\nexplanation", prefilled=True) == "SELECT name FROM t"
    assert extract_sql("*", prefilled=True) == "SELECT*"
    assert extract_sql(" SELECT a FROM t;", prefilled=True) == "SELECT a FROM t"  # a repeated keyword
    assert extract_sql(" DELETE FROM t", prefilled=True) == "DELETE FROM t"  # kept for the executor to refuse
    assert extract_sql("", prefilled=True) == "SELECT"


def test_extract_sql_from_free_text():
    reasoning = "We need t.\n```sql\nSELECT a FROM t;\n```\nOr better:\n```sql\nSELECT b FROM t\n```"
    assert extract_sql(reasoning, prefilled=False) == "SELECT b FROM t"
    assert extract_sql("The answer is SELECT x FROM y;", prefilled=False) == "SELECT x FROM y"
    assert extract_sql("```sql\nSELECT 1; DROP TABLE t\n```", prefilled=False) == "SELECT 1; DROP TABLE t"
    assert extract_sql("no idea", prefilled=False) == ""


def test_messages_hold_schema_examples_question_and_repair():
    example = SelectedExample(SQLExample("How many b?", "SELECT count(*) FROM b;", "x"), 0.9, None)
    messages = build_messages("CREATE TABLE a (id INT);", "How many a?", [example], reasoning=True)
    user = messages[1]["content"]
    assert messages[0]["role"] == "system"
    assert user.index("CREATE TABLE a") < user.index("How many b?") < user.index("/* Question: How many a? */")
    assert "SELECT count(*) FROM b;\n" in user and "```sql code block" in user
    assert "from other databases" not in build_messages("S", "Q")[1]["content"]
    repaired = repair_messages(messages, "SELECT x FROM a", "SQLite error: no such column: x")
    assert repaired[-2] == {"role": "assistant", "content": "```sql\nSELECT x FROM a\n```"}
    assert "no such column: x" in repaired[-1]["content"] and len(repaired) == 4
