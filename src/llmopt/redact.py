"""Secrets out of what llmopt stores: `redact(text)` masks API keys, tokens and passwords before a command line, a
model id, an error message or a report is written anywhere.

It masks the value, never the name, so a reader still sees that a key was given:
    --api-key K, --api-key=K, --hf-token K        ->  --api-key ***
    api_key=K, OPENAI_API_KEY=K, "password": "K"  ->  api_key=***
    https://user:pass@host/v1?key=K&x=1           ->  https://user:***@host/v1?key=***&x=1
    Authorization: Bearer K, Bearer K             ->  Authorization: Bearer ***
    sk-..., hf_..., ghp_..., AKIA... anywhere      ->  ***

This module imports nothing from llmopt, so every part (the run log, report writers, error paths) can use it.
"""

from __future__ import annotations

import re

MASK = "***"

# a name that holds a secret: one ending in token/password/secret/... (hf_token, db.password, client-secret), or a
# compound ending in key/auth (api_key, apikey, basic-auth); "max_tokens" ends in "tokens" and "--key-file" in
# "file", so neither is a secret, and a bare "key" or "auth" is one only as a URL query parameter or an option
_SECRET_NAME = (r"(?:[A-Za-z0-9_.-]*?(?:token|password|passwd|pwd|secret|authorization|credentials?|signature)"
                r"|[A-Za-z0-9_.-]*?[A-Za-z0-9][_.-]?(?:key|auth))")
_VALUE = r"(?!\*\*\*)(?!(?:bearer|basic|token)\s)(\"[^\"]*\"|'[^']*'|[^\s&\"',;}]+)"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Authorization headers and bare bearer tokens
    (re.compile(r"(?i)\b(authorization\s*[:=]\s*[\"']?(?:bearer|basic|token)?\s*)([^\s\"',;]+)"), rf"\1{MASK}"),
    (re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9._~+/=-]{8,})"), rf"\1{MASK}"),
    # a password in a URL: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)([^/\s@]+)(@)"), rf"\1{MASK}\3"),
    # command-line options: --api-key VALUE, --api-key=VALUE, --key VALUE (a following option is not a value)
    (re.compile(rf"(?i)(?<![\w-])(--?(?:{_SECRET_NAME}|key|auth))(=|\s+)(?!-)(\"[^\"]*\"|'[^']*'|\S+)"),
     rf"\1\2{MASK}"),
    # assignments and JSON/YAML fields: api_key=V, OPENAI_API_KEY=V, "password": "V", token: V
    (re.compile(rf"(?i)(?<![\w-])([\"']?{_SECRET_NAME}[\"']?\s*[=:]\s*){_VALUE}"), rf"\1{MASK}"),
    # URL query parameters: ?key=V&, &auth=V, &sig=V
    (re.compile(rf"(?i)([?&;](?:key|auth|sig|code)=){_VALUE}"), rf"\1{MASK}"),
    # well-known key shapes, wherever they appear
    (re.compile(r"\b(?:sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|"
                r"xox[abpors]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{30,})"), MASK),
]


def redact(text: str) -> str:
    """`text` with every secret value it holds replaced by ***."""
    if not text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(lambda m, r=replacement: _keep_quotes(m, r), text)
    return text


def _keep_quotes(match: re.Match[str], replacement: str) -> str:
    """The replacement, with a quoted value keeping its quotes so JSON and YAML stay well-formed."""
    out = match.expand(replacement)
    value = match.group(match.lastindex or 0)
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        out = out.replace(MASK, f"{value[0]}{MASK}{value[0]}")
    return out
