import json
import threading

import pytest

from llmopt.errors import InputError
from llmopt.jsonl import append_jsonl, read_jsonl, read_rows


def test_records_round_trip_and_a_missing_file_reads_as_empty(tmp_path):
    path = tmp_path / "deep" / "results.jsonl"
    assert read_jsonl(path) == []
    append_jsonl(path, {"id": "a", "text": "Zürich"})
    append_jsonl(path, {"id": "b", "n": 1}, {"id": "c", "at": path}, sync=False)
    assert read_jsonl(path) == [{"id": "a", "text": "Zürich"}, {"id": "b", "n": 1}, {"id": "c", "at": str(path)}]
    assert path.read_text(encoding="utf-8").endswith("\n") and "Zürich" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("cut", [1, 7, -1])
def test_a_record_torn_by_a_crash_is_dropped_and_never_glued_to_the_next(tmp_path, cut):
    path = tmp_path / "results.jsonl"
    append_jsonl(path, {"id": "a"}, {"id": "b", "text": "a longer record"})
    whole = path.read_bytes()
    path.write_bytes(whole[:cut - 1] if cut < 0 else whole[: whole.index(b"\n") + 1 + cut])  # no newline at the end
    assert read_jsonl(path) == [{"id": "a"}]
    append_jsonl(path, {"id": "c"})
    assert read_jsonl(path) == [{"id": "a"}, {"id": "c"}]
    assert path.read_text().splitlines() == ['{"id": "a"}', '{"id": "c"}']  # the torn part is gone


def test_a_crash_inside_a_multibyte_character_is_a_torn_line_too(tmp_path):
    path = tmp_path / "results.jsonl"
    append_jsonl(path, {"id": "a"}, {"id": "b", "text": "é" * 4})
    whole = path.read_bytes()
    path.write_bytes(whole[: whole.index("é".encode()) + 1])  # half of the two bytes of é
    assert read_jsonl(path) == [{"id": "a"}]
    append_jsonl(path, {"id": "c"})
    assert read_jsonl(path) == [{"id": "a"}, {"id": "c"}]


def test_a_whole_last_record_without_its_newline_is_kept(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}')  # written by hand or another tool, not torn
    assert read_jsonl(path) == [{"id": "a"}, {"id": "b"}]
    append_jsonl(path, {"id": "c"})
    assert read_jsonl(path) == [{"id": "a"}, {"id": "b"}, {"id": "c"}]


def test_a_file_that_is_only_a_torn_line_is_emptied_first(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"id": "a", "te')
    append_jsonl(path, {"id": "b"})
    assert path.read_text() == '{"id": "b"}\n'


def test_a_bad_line_in_the_middle_is_reported_with_file_and_line_and_the_rest_load(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b", "te\n\n[1, 2]\n{"id": "c"}\n{"id": "d"')
    with pytest.warns(UserWarning) as caught:
        rows = read_jsonl(path)
    assert rows == [{"id": "a"}, {"id": "c"}]
    assert [str(w.message).split(" ")[0] for w in caught] == [f"{path}:2", f"{path}:4"]  # not the torn last line


def test_appends_from_many_threads_each_stay_one_line(tmp_path):
    path = tmp_path / "results.jsonl"
    threads = [threading.Thread(target=lambda i=i: [append_jsonl(path, {"id": f"{i}-{j}", "pad": "x" * 5000},
                                                                 sync=False) for j in range(20)])
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = read_jsonl(path)
    assert len(rows) == 160 and len({r["id"] for r in rows}) == 160


def test_input_rows_keep_their_place_when_a_line_is_bad(tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_text('{"q": 1}\n\n{not json\n"text"\n{"q": 2}\n')
    rows = read_rows(path)
    assert rows[0] == {"q": 1} and rows[2:] == ["text", {"q": 2}]
    assert rows[1].startswith("questions.jsonl:3 is not JSON")


@pytest.mark.parametrize("content, expected", [
    ([{"q": 1}, {"q": 2}], [{"q": 1}, {"q": 2}]),
    ({"data": [{"q": 1}]}, [{"q": 1}]),  # SQuAD-style files hold their rows under "data"
    ({"q": 1}, [{"q": 1}]),
])
def test_input_rows_from_a_json_file(tmp_path, content, expected):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(content))
    assert read_rows(path) == expected


def test_a_json_file_that_does_not_parse_is_one_clear_error(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text('[{"q": 1},')
    with pytest.raises(InputError, match="rows.json: not valid JSON .*write a JSON list or one JSON object per line"):
        read_rows(path)
