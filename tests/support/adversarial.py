"""Text crafted against the redactor's patterns (issue 23: "a-" * 4096 took 13 s), one shape per way a
regular expression can re-scan: long runs of key characters, many separators, many quotes, many rule
prefixes. Each shape gives a string of exactly `n` characters."""

from __future__ import annotations

from typing import Callable


def _repeat(unit: str) -> Callable[[int], str]:
    return lambda n: (unit * (n // len(unit) + 1))[:n]


def _prefixed(prefix: str, unit: str) -> Callable[[int], str]:
    return lambda n: (prefix + unit * (n // len(unit) + 1))[:n]


SHAPES: dict[str, Callable[[int], str]] = {
    "a-": _repeat("a-"),
    "a.": _repeat("a."),
    "dashes": _repeat("-"),
    "a--": _repeat("a--"),
    "base64": _repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkrLw"),
    "base64=": _prefixed("aws_secret_access_key", "="),
    "equals": _repeat("a="),
    "colons": _repeat("a:"),
    "quotes": _repeat("\"'a"),
    "nested-quotes": _repeat("password=\"'"),
    "json-key": _prefixed('"password": "', "a"),
    "key=": _repeat("password="),
    "key-spaces": _prefixed("password", " "),
    "flag-spaces": _prefixed("-password", " "),
    "scheme": _repeat("a+"),
    "url-colons": _prefixed("x://a", ":b"),
    "schemes": _repeat("://a:"),
    "bearer": _repeat("bearer "),
    "authorization": _prefixed("authorization: bearer", " "),
    "aws-secret": _repeat("aws secret "),
    "jwt-dashes": _repeat("eyJ-"),
    "jwt-dots": _repeat("eyJaaaaaaaaa."),
    "pem": _prefixed("-----BEGIN ", "A "),
    "pem-headers": _repeat("-----BEGIN A"),
    "xoxb": _repeat("xoxb-"),
    "sk_live": _prefixed("sk_live_", "a"),
    "e-acute": _repeat("éa-"),
}
