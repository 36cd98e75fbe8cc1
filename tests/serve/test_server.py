"""Exposure rules and the `llmopt serve` command (its --check mode opens everything and exits)."""

import json

import pytest

from llmopt.errors import ConfigError
from llmopt.serve.config import make_config
from llmopt.serve.server import check_exposure, is_loopback


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True),
                                            ("localhost", True), ("0.0.0.0", False), ("::", False),
                                            ("192.168.1.20", False), ("10.0.0.1", False)])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_a_non_loopback_host_needs_a_long_enough_api_key():
    with pytest.raises(ConfigError, match="refusing to listen on 0.0.0.0 without an API key"):
        check_exposure(make_config(None, host="0.0.0.0"))
    with pytest.raises(ConfigError, match="shorter than"):
        check_exposure(make_config(None, host="0.0.0.0", api_key="abc"))
    check_exposure(make_config(None, host="0.0.0.0", api_key="a-long-enough-key"))
    check_exposure(make_config(None, host="127.0.0.1"))


def test_the_api_key_never_shows_in_the_config_repr():
    config = make_config(None, api_key="a-long-enough-key")
    assert "a-long-enough-key" not in repr(config) and config.key == "a-long-enough-key"


def test_cli_refuses_an_exposed_server_before_opening_anything(capsys, monkeypatch):
    from llmopt.cli.main import main

    monkeypatch.delenv("LLMOPT_API_KEY", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["serve", "--host", "0.0.0.0", "--index", "no-such-index"])
    assert info.value.code == 1
    assert "refusing to listen" in capsys.readouterr().err  # not "no index": exposure is checked first


def test_cli_check_lists_the_presets_as_json(tmp_path, capsys, monkeypatch):
    from llmopt.cli.main import main
    from llmopt.demo import write_demo_data

    write_demo_data(tmp_path, ["sql"])
    db = tmp_path / "sql" / "database" / "bookshop" / "bookshop.sqlite"
    monkeypatch.setenv("LLMOPT_API_KEY", "key-from-the-environment")
    main(["serve", "--db", str(db), "--model", "fake:ok", "--host", "0.0.0.0", "--check", "--json"])
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert set(payload["presets"]) == {"none", "sql-zero", "sql-fewshot-sc"}
    assert "--index" in payload["unavailable"]["rag-k5"]
    assert "only the 'none' preset" not in captured.err


def test_cli_bad_config_is_one_line(tmp_path, capsys):
    from llmopt.cli.main import main

    path = tmp_path / "serve.yaml"
    path.write_text("limits: {max_queue: -1}\n")
    with pytest.raises(SystemExit):
        main(["serve", "--config", str(path), "--check"])
    err = capsys.readouterr().err
    assert "limits.max_queue" in err and "Traceback" not in err


def test_the_public_api_serve_is_callable_before_and_after_the_package_is_imported():
    import subprocess
    import sys

    code = ("import llmopt\n"
            "from llmopt.errors import ConfigError\n"
            "for step in range(2):\n"
            "    try:\n"
            "        llmopt.serve(host='0.0.0.0')\n"  # exposure is checked before anything is opened
            "    except ConfigError as exc:\n"
            "        print('refused' if 'refusing' in str(exc) else exc)\n"
            "    import llmopt.serve.app\n"  # from here on the attribute is the package
            "print(callable(llmopt.create_app))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["refused", "refused", "True"], done.stderr[-2000:]
