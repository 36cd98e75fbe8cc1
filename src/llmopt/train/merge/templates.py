"""Chat templates of a merged model: `chat_template: auto` takes the template most of the inputs share,
anything else is the template text itself."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ...paths import atomic_write_text
from .io import read_json


def read_template(folder: Path) -> str | None:
    """A model folder's chat template: chat_template.jinja, else the one inside tokenizer_config.json."""
    jinja = Path(folder) / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = Path(folder) / "tokenizer_config.json"
    if config.is_file():
        template = read_json(config, "a tokenizer's settings").get("chat_template")
        if isinstance(template, list):  # named templates: keep the default one
            template = next((t.get("template") for t in template
                             if isinstance(t, dict) and t.get("name") == "default"), None)
        return template if isinstance(template, str) else None
    return None


def chosen_template(setting: str | None, folders: list[Path]) -> str | None:
    if not setting:
        return None
    if setting != "auto":
        return setting
    templates = [t.strip() for t in (read_template(f) for f in folders) if t]
    return Counter(templates).most_common(1)[0][0] if templates else None


def install_template(folder: Path, template: str) -> None:
    """Write the template where transformers looks for it (and replace any copy in tokenizer_config.json)."""
    atomic_write_text(folder / "chat_template.jinja", template)
    config = folder / "tokenizer_config.json"
    if config.is_file():
        data = read_json(config, "a tokenizer's settings")
        if "chat_template" in data:
            data["chat_template"] = template
            atomic_write_text(config, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
