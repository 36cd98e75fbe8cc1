"""Backends declare themselves: the registry checks every engine name, entry points included, and a backend
installed through the `llmopt.backends` entry-point group works from the CLI like a built-in one."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from llmopt.errors import ModelSpecError
from llmopt.models.registry import BACKENDS, backend, engine_names, pack_engines
from llmopt.models.spec import parse_spec

PLUGIN = textwrap.dedent('''
    from llmopt.testing import FakeLLM


    class MyEngine(FakeLLM):
        engine = "myengine"
        is_local = False
        thread_safe = True
        state_adapter = None

        @classmethod
        def load(cls, spec):
            return cls([f"hello from {spec.name}"], name=spec.name)


    class NotABackend:
        pass
''')


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A package installed the way pip installs one: a module and a dist-info with entry points."""
    site = tmp_path / "site"
    (site / "myengine_backend-0.1.dist-info").mkdir(parents=True)
    (site / "myengine_backend.py").write_text(PLUGIN)
    info = site / "myengine_backend-0.1.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myengine-backend\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[llmopt.backends]\nmyengine = myengine_backend:MyEngine\n"
                                           "broken = myengine_backend:NotABackend\n")
    monkeypatch.syspath_prepend(str(site))
    return site


def test_built_in_backends_declare_themselves():
    assert set(BACKENDS) <= set(engine_names())
    assert pack_engines()[:2] == ["llamacpp", "hf"]
    assert backend("openai").thread_safe and not backend("openai").is_local and backend("openai").takes_url
    assert backend("llamacpp").state_adapter is not None and backend("hf").state_adapter is not None
    assert not backend("llamacpp").thread_safe and backend("fake").is_local


def test_an_installed_backend_is_reachable_from_a_spec(plugin_dir):
    assert "myengine" in engine_names()
    spec = parse_spec("myengine:x?a=1")
    assert (spec.engine, spec.name, spec.options) == ("myengine", "x", {"a": "1"})
    from llmopt.models.registry import get_model

    gen = get_model("myengine:x").generate("hi")
    assert gen.text == "hello from x" and gen.engine == "myengine"


def test_bad_engines_name_the_fix(plugin_dir):
    with pytest.raises(ModelSpecError, match="unknown engine 'nosuch'.*myengine"):
        parse_spec("nosuch:x")
    with pytest.raises(ModelSpecError, match="not an llmopt LLM subclass"):
        parse_spec("broken:x")
    with pytest.raises(ModelSpecError, match="after '@' name a local engine"):
        parse_spec("default@myengine")  # it runs no model packs


def test_the_cli_uses_an_entry_point_backend(plugin_dir, llmopt_home):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_dir), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "llmopt.cli.main", "generate", "hi", "--model", "myengine:x",
                           "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["text"] == "hello from x" and result["model"] == "myengine:x"
    import sqlite3

    rows = sqlite3.connect(llmopt_home / "runlog.db").execute("SELECT model, engine FROM calls").fetchall()
    assert rows == [("myengine:x", "myengine")]
