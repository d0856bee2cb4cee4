"""Secrets never leave the operator: one redactor, applied at every outbound boundary.

`redact(text)` masks secrets in a string; `redact_data(obj)` walks dicts/lists (JSON-like data, a
status patch, a tool result, an evidence bundle) and masks every string in it, keys included, so
the structure stays valid JSON. `RedactingFilter` does the same for log records.

The boundaries that call it: the evidence ConfigMap (evidence_store), every status patch
(IncidentStore.patch_status), Events (EventRecorder), report sinks (GitHub, cluster), the LLM
prompt, tool and MCP results (ToolRegistry.call), and the operator's logs.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"

# Words that name a secret when they are the key of a key=value / key: value pair (env literal,
# query string, JSON, YAML, CLI flag). Matched as a suffix too: DB_PASSWORD, x-api-key, clientSecret.
_SECRET_KEY = (r"(?:[A-Za-z0-9_.-]*?(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|app[_-]?key|"
               r"access[_-]?key|private[_-]?key|credentials?|auth[_-]?key|session[_-]?key|signature))")

# (pattern, replacement): replacements keep the label and mask the value
_RULES: list[tuple[re.Pattern[str], str]] = [
    # PEM private keys, whole block (or what is left of it when cut)
    (re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|$)", re.S),
     r"-----BEGIN \1PRIVATE KEY-----***-----END \1PRIVATE KEY-----"),
    # Authorization headers and bare bearer/basic credentials
    (re.compile(r"(?i)\b(authorization\s*[:=]\s*)(bearer|token|basic|digest)\s+[^\s\"',;]+"), r"\1\2 ***"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{12,}"), r"\1 ***"),
    # URLs with credentials: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s:@\"']+):([^/\s@\"']+)@"), r"\1\2:***@"),
    # vendor tokens
    (re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), MASK),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"\bxapp-\d-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"(?i)https://hooks\.slack\.com/(services|workflows|triggers)/[A-Za-z0-9/_-]+"), r"https://hooks.slack.com/\1/***"),
    (re.compile(r"\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), MASK),
    (re.compile(r"\b(sk|rk)_(live|test)_[0-9A-Za-z]{16,}\b"), MASK),
    (re.compile(r"\bsk-(ant-|proj-)?[A-Za-z0-9_-]{20,}"), MASK),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), MASK),
    (re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), MASK),
    (re.compile(r"k8s-aws-v1\.[A-Za-z0-9_-]+"), "k8s-aws-v1.***"),
    # JWTs (and so Kubernetes service-account tokens)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MASK),
    # key=value, key: value, "key": "value", --key value / --key=value
    (re.compile(r"(?i)(\"" + _SECRET_KEY + r"\"\s*:\s*\")[^\"]*(\")"), r"\1***\2"),
    (re.compile(r"(?i)('" + _SECRET_KEY + r"'\s*:\s*')[^']*(')"), r"\1***\2"),
    (re.compile(r"(?i)(--" + _SECRET_KEY + r")(=|\s+)(?!\*\*\*)[^\s\"',;]+"), r"\1\2***"),
    (re.compile(r"(?i)\b(" + _SECRET_KEY + r")(\s*[:=]\s*)([\"'])(?!\*\*\*\3)[^\"'\n]*\3"), r"\1\2\3***\3"),
    (re.compile(r"(?i)\b(" + _SECRET_KEY + r")(\s*[:=]\s*)(?![\"'{\[]|\*\*\*)[^\s,;\"'&)}\]]+"), r"\1\2***"),
    # an AWS secret access key on its own (40 base64 chars next to an access key id or its name)
    (re.compile(r"(?i)(aws.{0,20}?secret.{0,20}?[\s:=\"']+)[A-Za-z0-9/+=]{40}\b"), r"\1***"),
]


def redact(text: str) -> str:
    """The text with every secret it holds masked."""
    if not text:
        return text
    for rx, repl in _RULES:
        text = rx.sub(repl, text)
    return text


def redact_data(obj: Any) -> Any:
    """A copy of JSON-like data with every string (keys too) redacted; other values unchanged."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        out: dict = {}
        for k, v in obj.items():
            # a secret-named key masks its whole scalar value: {"DB_PASSWORD": "x"} -> {"DB_PASSWORD": "***"}
            if isinstance(k, str) and isinstance(v, str) and v and k not in OWN_KEYS and _SECRET_KEY_RX.fullmatch(k):
                out[k] = MASK
            else:
                out[redact(k) if isinstance(k, str) else k] = redact_data(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [redact_data(x) for x in obj]
    return obj


_SECRET_KEY_RX = re.compile(r"(?i)" + _SECRET_KEY)
# the operator's own keys that merely end in a secret word (status.rerunToken holds an annotation value)
OWN_KEYS = frozenset({"rerunToken"})


class RedactingFilter(logging.Filter):
    """Masks secrets in every log record that passes through a handler (message and arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logged as it is
            return True
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of the root logger (and Kopf's), idempotently."""
    targets = [logger] if logger else [logging.getLogger(), logging.getLogger("kopf")]
    for lg in targets:
        for h in lg.handlers:
            if not any(isinstance(f, RedactingFilter) for f in h.filters):
                h.addFilter(RedactingFilter())
