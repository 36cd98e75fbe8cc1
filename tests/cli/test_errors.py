"""Bad input of any kind gets one line that names the fix (exit 1 for bad input, 2 for bad usage), never a
traceback: mistyped commands and options, missing files, folders where files belong, empty or broken YAML."""

import os
import subprocess
import sys

import pytest

LLMOPT = [sys.executable, "-m", "llmopt.cli.main"]


def run(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "LLMOPT_DEBUG"}
    return subprocess.run([*LLMOPT, *args], capture_output=True, text=True, env=env, timeout=300, cwd=cwd)


def assert_short(proc, code, *phrases, most_lines=4):
    """Exit `code`, no traceback, at most `most_lines` lines on stderr, each phrase in it."""
    text = proc.stderr
    assert proc.returncode == code, (proc.returncode, text[-2000:])
    assert "Traceback" not in text and 'File "' not in text, text[-2000:]
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert 1 <= len(lines) <= most_lines, text
    for phrase in phrases:
        assert phrase in text, (phrase, text)
    return text


def test_a_mistyped_command_prints_the_usage_line_and_a_suggestion():
    text = assert_short(run("merg"), 2, "Usage: llmopt", "No such command", "merge")
    assert "Did you mean" in text or "merge" in text.split("No such command")[1]
    assert_short(run("inti"), 2, "Usage: llmopt", "No such command 'inti'", "init")  # `init` itself is a command now


def test_a_mistyped_option_prints_the_usage_line():
    assert_short(run("generate", "hi", "--max-tokns", "3"), 2, "Usage: llmopt generate", "No such option")
    assert_short(run("generate", "hi", "--max-tokens", "many"), 2, "Usage: llmopt generate", "--max-tokens")


@pytest.mark.parametrize("option", [("--seed", "-5"), ("--temperature", "nan"), ("--temperature", "-1"),
                                    ("--max-tokens", "-3")])
def test_generation_settings_no_engine_takes_are_one_line(option):
    """A negative seed or a NaN temperature used to fail deep inside the engine (llama.cpp's sampler)."""
    setting = option[0].lstrip("-").replace("-", "_")
    assert_short(run("generate", "hi", "--model", "fake:ok", *option), 1, "error:", setting, most_lines=1)


@pytest.mark.parametrize("spec", ["fake:ok?n_ctx=abc", "fake:ok?n_ctx=-5", "openai:m?timeout=nan@http://127.0.0.1:9/v1",
                                  "openai:m?retries=many@http://127.0.0.1:9/v1"])
def test_bad_model_spec_options_are_one_line(spec):
    """int('abc') inside a backend's load used to escape as a ValueError traceback (and a 500 from the server)."""
    assert_short(run("generate", "hi", "--model", spec), 1, "error:", "model spec", most_lines=1)


def test_out_of_range_numbers_are_usage_errors():
    assert_short(run("runs", "--limit", "1" + "0" * 20), 2, "--limit")  # was an OverflowError from SQLite


def test_version_prints_the_version():
    from llmopt import __version__

    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"llmopt {__version__}", proc.stderr[-2000:]


@pytest.mark.parametrize("make", ["missing", "folder", "empty", "bad-yaml", "a-list", "binary"])
def test_merge_config_problems_are_one_line(tmp_path, make):
    path = tmp_path / "merge.yaml"
    if make == "folder":
        path.mkdir()
    elif make == "empty":
        path.write_text("")
    elif make == "bad-yaml":
        path.write_text("merge_method: [linear\nmodels: {")
    elif make == "a-list":
        path.write_text("- linear\n- ties\n")
    elif make == "binary":
        path.write_bytes(b"\xff\xfe\x00merge")
    assert_short(run("merge", str(path), "--out", str(tmp_path / "out")), 1, "error:", "merge.yaml", most_lines=2)


@pytest.mark.parametrize("make", ["missing", "folder", "empty", "bad-yaml", "a-list", "unknown-key", "binary"])
def test_serve_config_problems_are_one_line(tmp_path, make):
    path = tmp_path / "serve.yaml"
    if make == "folder":
        path.mkdir()
    elif make == "empty":
        path.write_text("")
    elif make == "bad-yaml":
        path.write_text("presets: {rag-k8: [k\n")
    elif make == "a-list":
        path.write_text("- index\n")
    elif make == "unknown-key":
        path.write_text("indx: demo\n")
    elif make == "binary":
        path.write_bytes(b"\xff\xfe\x00index")
    proc = run("serve", "--config", str(path), "--check", "--model", "fake:ok")
    if make == "empty":  # an empty file is no settings at all: the defaults serve
        assert proc.returncode == 0, proc.stderr[-2000:]
        return
    expected = "indx" if make == "unknown-key" else "serve.yaml"
    assert_short(proc, 1, "error:", expected, most_lines=2)


def test_serve_rejects_bad_limits_in_one_line():
    assert_short(run("serve", "--max-concurrent", "0", "--check", "--model", "fake:ok"), 1, "max_concurrent")
    assert_short(run("serve", "--port", "70000", "--check", "--model", "fake:ok"), 1, "port")
    assert_short(run("serve", "--allowed-host", "", "--check", "--model", "fake:ok"), 1, "allowed_hosts")


def test_predictable_os_and_decoding_errors_become_one_line(monkeypatch, capsys):
    """The last line of defence in main(): errors no command turned into an LlmoptError still print one line."""
    import typer

    from llmopt.cli import main as cli_main

    failures = {
        "missing": FileNotFoundError(2, "No such file or directory", "/data/x.yaml"),
        "denied": PermissionError(13, "Permission denied", "/data/x.yaml"),
        "folder": IsADirectoryError(21, "Is a directory", "/data"),
        "decode": UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    }
    for name, failure in failures.items():
        def boom(failure=failure):
            raise failure

        app = typer.Typer()
        app.command(name)(boom)
        app.command("other")(lambda: None)
        monkeypatch.setattr(cli_main, "app", app)
        monkeypatch.delenv("LLMOPT_DEBUG", raising=False)
        with pytest.raises(SystemExit) as exit_info:
            cli_main.main([name])
        assert exit_info.value.code == 1
        text = capsys.readouterr().err
        assert text.startswith("error: ") and len(text.strip().splitlines()) == 1, text
        assert "Traceback" not in text
    monkeypatch.setenv("LLMOPT_DEBUG", "1")
    with pytest.raises(UnicodeDecodeError):  # LLMOPT_DEBUG=1 shows the real exception
        cli_main.main(["decode"])


def test_serve_warns_about_a_reports_folder_that_is_not_there(tmp_path):
    proc = run("serve", "--check", "--model", "fake:ok", "--reports", str(tmp_path / "typo"))
    assert proc.returncode == 0 and "typo is not a folder" in proc.stderr, proc.stderr[-2000:]
