import pytest

from llmopt.errors import ConfigError
from llmopt.index.filters import both, exclude_versions, filter_expr, parse_page_range


def test_filter_expressions():
    assert filter_expr(None) == ""
    assert filter_expr({"type": "table"}) == 'type == "table"'
    assert filter_expr({"type": ["table", "picture"]}) == '(type == "table" or type == "picture")'
    assert filter_expr({"page": 3}) == "page == 3"
    assert filter_expr({"page": (2, 5)}) == "page >= 2 and page <= 5"
    assert filter_expr({"page": (4, None)}) == "page >= 4"
    assert filter_expr({"source": "/a/b.pdf"}) == 'source == "/a/b.pdf"'
    assert filter_expr({"source": "b.pdf"}) == '(source == "b.pdf" or source like "%/b.pdf")'
    assert filter_expr({"source": "*/reports/*"}) == 'source like "%/reports/%"'
    assert filter_expr({"source": 'we"ird.md'}) == '(source == "we\\"ird.md" or source like "%/we\\"ird.md")'


def test_bad_filters_name_the_fix():
    with pytest.raises(ConfigError, match="filters take source, type, page"):
        filter_expr({"colour": "red"})
    with pytest.raises(ConfigError, match="use one of text, table, picture"):
        filter_expr({"type": "chart"})
    with pytest.raises(ConfigError, match="first, last"):
        filter_expr({"page": "x"})
    with pytest.raises(ConfigError, match="empty filter list"):
        filter_expr({"type": []})


def test_version_exclusion_and_combination():
    assert exclude_versions([]) == ""
    assert exclude_versions(["v1", "v2"]) == 'version not in ["v1", "v2"]'
    assert both("a == 1", "", "b == 2") == "(a == 1) and (b == 2)"
    assert both("", "") == ""


def test_page_ranges_from_the_command_line():
    assert parse_page_range("3") == 3
    assert parse_page_range("2-5") == (2, 5)
    assert parse_page_range("4-") == (4, None)
    assert parse_page_range(None) is None
    with pytest.raises(ConfigError, match="write 3, 2-5 or 4-"):
        parse_page_range("two")
