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

# Words that name a secret when they end the key of a key=value / key: value pair (env literal, query
# string, JSON, YAML, CLI flag): DB_PASSWORD, x-api-key, clientSecret, --aws-secret-access-key.
_SECRET_WORDS = ("password", "passwd", "pwd", "secret", "token", "apikey", "api_key", "api-key", "appkey", "app_key",
                 "app-key", "accesskey", "access_key", "access-key", "privatekey", "private_key", "private-key",
                 "credential", "credentials", "authkey", "auth_key", "auth-key", "sessionkey", "session_key",
                 "session-key", "signature")
_KEY_CHARS = "A-Za-z0-9_.-"
# A key is a whole run of key characters that ends in a secret word. The engine never re-scans a run:
# a key starts only where the run does (no key character before it), the run is taken possessively
# (no backtracking into it), and "ends in a secret word" is a set of fixed-width look-behinds at its end.
# So every rule below costs time linear in its input, whatever the text (issue 23: "a-" * 4096 took 13 s
# with a lazy `[A-Za-z0-9_.-]*?` prefix tried from every word boundary).
_ENDS_SECRET = "(?:" + "|".join(f"(?<={w})" for w in _SECRET_WORDS) + ")"
_KEY = rf"(?<![{_KEY_CHARS}])[{_KEY_CHARS}]++{_ENDS_SECRET}"
# a flag: a key run that starts with "-" (-password, --db-password) or has "--" in it (app--password); the
# atomic group finds the first "--" once, never retrying later ones
_FLAG = rf"(?<![{_KEY_CHARS}])(?:-|(?>[{_KEY_CHARS}]*?--))[{_KEY_CHARS}]*+{_ENDS_SECRET}"
_TOKEN_CHARS = "A-Za-z0-9_-"

# (pattern, replacement): replacements keep the label and mask the value. Every pattern is linear (see
# test_redactor_time_is_linear_in_adversarial_input): a repeat that could fail after a long scan is either
# possessive or starts only at the beginning of the run it scans, and every other repeat is bounded.
_RULES: list[tuple[re.Pattern[str], str]] = [
    # PEM private keys, whole block (or what is left of it when cut)
    (re.compile(r"-----BEGIN ([A-Z0-9 ]{0,40})PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|$)", re.S),
     r"-----BEGIN \1PRIVATE KEY-----***-----END \1PRIVATE KEY-----"),
    # Authorization headers and bare bearer/basic credentials
    (re.compile(r"(?i)\b(authorization\s*+[:=]\s*+)(bearer|token|basic|digest)\s++[^\s\"',;]+"), r"\1\2 ***"),
    (re.compile(r"(?i)\b(bearer|basic)\s++[A-Za-z0-9._~+/=-]{12,}"), r"\1 ***"),
    # URLs with credentials: scheme://user:password@host (anchored on "://": the scheme is kept as it is)
    (re.compile(r"(://)([^/\s:@\"']++):([^/\s@\"']++)@"), r"\1\2:***@"),
    # vendor tokens
    (re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), MASK),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"\bxapp-\d-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"(?i)https://hooks\.slack\.com/(services|workflows|triggers)/[A-Za-z0-9/_-]+"), r"https://hooks.slack.com/\1/***"),
    (re.compile(r"\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), MASK),
    (re.compile(r"\b(sk|rk)_(live|test)_[0-9A-Za-z]{16,}+\b"), MASK),
    (re.compile(r"\bsk-(ant-|proj-)?[A-Za-z0-9_-]{20,}"), MASK),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), MASK),
    (re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), MASK),
    (re.compile(r"k8s-aws-v1\.[A-Za-z0-9_-]+"), "k8s-aws-v1.***"),
    # JWTs (and so Kubernetes service-account tokens); a JWT starts a run of token characters
    (re.compile(rf"(?<![{_TOKEN_CHARS}])-?eyJ[{_TOKEN_CHARS}]{{8,}}+\.[{_TOKEN_CHARS}]{{8,}}+\.[{_TOKEN_CHARS}]{{8,}}"), MASK),
]

# The rules below need a secret word (an AWS key's rule needs "secret"): text without one skips them.
_WORD_RX = re.compile("(?i)" + "|".join(_SECRET_WORDS))
_KEY_RULES: list[tuple[re.Pattern[str], str]] = [
    # key=value, key: value, "key": "value", --key value / --key=value / "--key", "value"
    (re.compile(rf"(?i)(\"[{_KEY_CHARS}]++{_ENDS_SECRET}\"\s*+:\s*+\")[^\"]*+(\")"), r"\1***\2"),
    (re.compile(rf"(?i)('[{_KEY_CHARS}]++{_ENDS_SECRET}'\s*+:\s*+')[^']*+(')"), r"\1***\2"),
    (re.compile(rf"(?i)({_FLAG})(=|\s++|[\"']\s*+,\s*+[\"'])(?!\*\*\*)[^\s\"',;]+"), r"\1\2***"),
    (re.compile(rf"(?i)({_KEY})(\s*+[:=]\s*+)([\"'])(?!\*\*\*\3)[^\"'\n]*+\3"), r"\1\2\3***\3"),
    (re.compile(rf"(?i)({_KEY})(\s*+[:=]\s*+)(?![\"'{{\[]|\*\*\*)[^\s,;\"'&)}}\]]+"), r"\1\2***"),
    # an AWS secret access key on its own (40 base64 chars next to an access key id or its name)
    (re.compile(r"(?i)(aws.{0,20}?secret.{0,20}?[\s:=\"']{1,20})[A-Za-z0-9/+=]{40}\b"), r"\1***"),
]

# Size bounds, applied before any rule runs: a text (a prompt, a log record) and each string field of
# data (an Event's message, a termination message, a report) are cut to these many characters. The
# cut drops the token it falls in, so no secret is left half-shown at the end.
TEXT_MAX = 1024 * 1024
FIELD_MAX = 64 * 1024  # GitHub takes 65,536 characters per body: no report is longer
CUT_NOTE = " …[cut: {n} characters]"


def bounded(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters (less the token the cut falls in) and a note that says so."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    tail = len(head) - 256
    ws = max(head.rfind(c, tail) for c in " \n\t")
    head = head[:ws] if ws >= 0 else head[:max(tail, 0)]
    return head + CUT_NOTE.format(n=len(text) - len(head))


def redact(text: str, limit: int = TEXT_MAX) -> str:
    """The text with every secret it holds masked (cut to `limit` characters first)."""
    if not text:
        return text
    text = bounded(text, limit)
    for rx, repl in _RULES + (_KEY_RULES if _WORD_RX.search(text) else []):
        text = rx.sub(repl, text)
    return text


_SECRET_KEY_RX = re.compile(rf"(?i)[{_KEY_CHARS}]++{_ENDS_SECRET}")
_SECRET_FLAG_RX = re.compile(rf"(?i)-[{_KEY_CHARS}]++{_ENDS_SECRET}")
# the operator's own keys that merely end in a secret word (status.rerunToken holds an annotation value)
OWN_KEYS = frozenset({"rerunToken"})


def is_secret_key(key: str) -> bool:
    """Whether a dict key / env name names a secret: DB_PASSWORD, clientSecret, x-api-key."""
    return key not in OWN_KEYS and _SECRET_KEY_RX.fullmatch(key) is not None


def _secret_flag(item: Any) -> bool:
    """An argv item that is a secret-named flag waiting for its value in the next item: "--db-password"."""
    return isinstance(item, str) and len(item) <= 200 and _SECRET_FLAG_RX.fullmatch(item) is not None


# A short flag whose next argv item is a password (mysql, mongo, sshpass: `-p hunter2`). "-p" is a port or
# "make parents" in other tools: a port number or mapping (8080, 8080:80, 53/udp), a path or a variable
# reference ($(DB_PASSWORD), which holds no secret) after it is left as it is.
SHORT_SECRET_FLAGS = frozenset({"-p"})
_PORTISH = re.compile(r"[0-9]{1,5}(?::[0-9]{1,5}){0,2}(?:/[a-z]{3,4})?|[/$~].*|\.\.?/.*", re.S)


def _value_follows(flag: Any, value: Any) -> bool:
    """Whether `value`, the argv item after `flag`, is that flag's secret."""
    if not (isinstance(value, str) and value):
        return False
    if flag in SHORT_SECRET_FLAGS:
        return _PORTISH.fullmatch(value) is None
    return _secret_flag(flag)


def _argv(items: list) -> list:
    """A list redacted item by item, with the value after a secret flag masked: ["--password", "x"]."""
    out = [redact_data(x) for x in items]
    for i in range(1, len(items)):
        if _value_follows(items[i - 1], items[i]):
            out[i] = MASK
    return out


def redact_data(obj: Any) -> Any:
    """A copy of JSON-like data with every string (keys too) redacted; other values unchanged.

    A secret-named key masks its whole scalar value ({"DB_PASSWORD": "x"}), so does a secret-named
    env entry ({"name": "DB_PASSWORD", "value": "x"}), and in a list (argv) the item after a
    secret-named flag (["--aws-secret-access-key", "wJalr…"], ["-p", "hunter2"]). Each string is
    cut to FIELD_MAX characters first."""
    if isinstance(obj, str):
        return redact(obj, FIELD_MAX)
    if isinstance(obj, dict):
        out: dict = {}
        named_secret = isinstance(obj.get("name"), str) and is_secret_key(obj["name"])
        for k, v in obj.items():
            if isinstance(k, str) and isinstance(v, str) and v and (is_secret_key(k) or named_secret and k == "value"):
                out[k] = MASK
            else:
                out[redact(k, FIELD_MAX) if isinstance(k, str) else k] = redact_data(v)
        return out
    if isinstance(obj, (list, tuple)):
        return _argv(list(obj))
    return obj


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
