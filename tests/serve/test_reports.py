"""Report discovery and file serving: only files inside a found report's folder, never outside."""

import json

import pytest

from llmopt.report import LadderRow, Section, Table, write_report
from llmopt.serve.errors import ApiError
from llmopt.serve.reports import Reports


@pytest.fixture
def roots(tmp_path):
    lab = tmp_path / "lab-report"
    plot = lab / "plots" / "acc.png"
    plot.parent.mkdir(parents=True)
    plot.write_bytes(b"\x89PNG fake")
    write_report(lab, "llmopt lab", [Section("ask", "summary", [Table(["a"], [[1]])], [("accuracy", plot)])],
                 [LadderRow("RAG", "rag k=5", "acc", 0.5, n=10)])
    write_report(tmp_path / "evals" / "run-1", "eval run 1", [Section("eval")])
    (tmp_path / "evals" / "run-2").mkdir()
    (tmp_path / "evals" / "run-2" / "report.json").write_text("{not json")
    (tmp_path / "secret.txt").write_text("do not serve")
    return tmp_path


def test_reports_are_found_under_each_root_with_labels_not_paths(roots):
    reports = Reports([roots / "lab-report", roots / "evals", roots / "missing"])
    items = reports.list()
    assert sorted(i["folder"] for i in items) == ["evals/run-1", "evals/run-2", "lab-report"]
    assert all(str(roots) not in json.dumps(i) for i in items)
    lab = next(i for i in items if i["folder"] == "lab-report")
    report = reports.get(lab["id"])
    assert report["title"] == "llmopt lab" and report["ladder"][0]["rung"] == "RAG"
    assert report["sections"][0]["plots"] == [["accuracy", "plots/acc.png"]]
    path, kind = reports.file(lab["id"], "plots/acc.png")
    assert path.read_bytes().startswith(b"\x89PNG") and kind == "image/png"


def test_a_broken_report_json_is_listed_but_reads_as_422(roots):
    reports = Reports([roots / "evals"])
    broken = next(i for i in reports.list() if i["folder"] == "evals/run-2")
    with pytest.raises(ApiError) as info:
        reports.get(broken["id"])
    assert info.value.status == 422


@pytest.mark.parametrize("relpath", ["../secret.txt", "../../secret.txt", "/etc/passwd", "plots/../../secret.txt",
                                     "report.html", "plots\\..\\..\\secret.txt", "link.png", ""])
def test_nothing_outside_a_report_folder_is_served(roots, relpath):
    (roots / "lab-report" / "link.png").symlink_to(roots / "secret.txt")
    reports = Reports([roots / "lab-report"])
    report_id = reports.list()[0]["id"]
    with pytest.raises(ApiError) as info:
        reports.file(report_id, relpath)
    assert info.value.status == 404 and str(roots) not in info.value.message


def test_unknown_report_ids_are_404(roots):
    with pytest.raises(ApiError) as info:
        Reports([roots]).get("0123456789ab")
    assert info.value.status == 404


def test_default_folders_are_looked_up_on_every_scan(tmp_path):
    reports = Reports([], default_base=tmp_path)
    assert reports.list() == []
    write_report(tmp_path / "eval-demo", "eval demo", [Section("eval")])  # written while the server runs
    write_report(tmp_path / "lab-report", "lab", [Section("ask")])
    write_report(tmp_path / "elsewhere", "not listed", [Section("x")])
    assert sorted(i["folder"] for i in reports.list()) == ["eval-demo", "lab-report"]
