"""Secrets never leave the operator: tokens and keys are masked in anything logged or stored."""

from __future__ import annotations

import re

# (pattern, replacement): the replacement keeps the label and masks the value
_RULES = [
    (re.compile(r"(?i)(authorization\s*[:=]\s*)(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1\2 ***"),
    (re.compile(r"(?i)\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), "***"),
    (re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"), "***"),
    (re.compile(r"(?i)\b(aws_secret_access_key|secret|password|passwd|token|api[_-]?key|app[_-]?key)(\s*[:=]\s*)[^\s,;\"']+"), r"\1\2***"),
    (re.compile(r"k8s-aws-v1\.[A-Za-z0-9_-]+"), "k8s-aws-v1.***"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"), "***"),
]


def redact(text: str) -> str:
    for rx, repl in _RULES:
        text = rx.sub(repl, text)
    return text
