"""Every log line an analyzer can read: the pods' log tails (any format, with or without a level) and the
application logs from OpenSearch (any level). One place, so no analyzer misses a source."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..models.diagnosis import EvidenceItem
from ..models.evidence import EvidenceBundle


@dataclass(frozen=True)
class Line:
    text: str
    source: str  # "cluster" (a pod's log tail) or "opensearch"
    ref: str | None  # the pod


def log_lines(bundle: EvidenceBundle) -> list[Line]:
    out = [Line(l.strip(), "cluster", f"Pod/{p.namespace}/{p.name}")
           for p in bundle.cluster.pods for l in (p.log_tail or "").splitlines() if l.strip()]
    out += [Line(l.message, "opensearch", l.pod) for l in bundle.logs if l.service != "datadog-monitor"]
    for p in bundle.cluster.pods:  # what a container wrote to its termination message is a log line too
        out += [Line(c.termination_message, "cluster", f"Pod/{p.namespace}/{p.name}")
                for c in p.containers if c.termination_message]
    return out


def matching(bundle: EvidenceBundle, pattern: re.Pattern[str]) -> list[Line]:
    return [l for l in log_lines(bundle) if pattern.search(l.text)]


def log_items(lines: list[Line], most: int = 3) -> list[EvidenceItem]:
    """The first few matching lines as evidence, each naming where it came from."""
    return [EvidenceItem(source=l.source, text=f"로그: {l.text[:240]}", ref=l.ref) for l in lines[:most]]


# A level in the common log dialects: JSON ({"level": "error"}, "severity", "lvl", "log.level"), logfmt
# (level=error), and plain text with or without a timestamp in front ("2026-12-06T01:02:03Z ERROR ...",
# "[ERROR] ...", "E1206 01:02:03.456 ..." as klog writes it).
_LOGFMT_LEVEL = re.compile(r"(?:^|\s)(?:level|lvl|severity)=\"?([A-Za-z]+)", re.I)
_PLAIN_LEVEL = re.compile(r"^(?:\S+\s+){0,2}?\[?(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT|PANIC)\]?(?::|\s|$)")
_KLOG_LEVEL = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d\d")
_LEVELS = {"ERR": "ERROR", "CRIT": "CRITICAL", "PANIC": "FATAL", "WARNING": "WARN", "E": "ERROR", "F": "FATAL",
           "W": "WARN", "I": "INFO"}
ERROR_LEVELS = ("ERROR", "FATAL", "CRITICAL")


def line_level(text: str) -> str | None:
    """The level a log line declares, upper-cased (ERROR, WARN, ...), or None."""
    text = text.strip()
    level = None
    if text.startswith("{"):
        try:
            doc = json.loads(text[:4000])
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            level = next((str(doc[k]) for k in ("level", "lvl", "severity", "log.level", "levelname") if k in doc), None)
    if level is None:
        m = _LOGFMT_LEVEL.search(text[:500]) or _PLAIN_LEVEL.match(text[:200]) or _KLOG_LEVEL.match(text[:20])
        level = m.group(1) if m else None
    if level is None:
        return None
    level = level.upper()
    return _LEVELS.get(level, level)


_NOISE = re.compile(r"\b[0-9a-f]{8,}\b|\d+")


def error_signature(text: str) -> str:
    """A log line without what changes between occurrences (timestamps, numbers, ids), for counting alike errors."""
    body = re.sub(r"^(?:\S*\d\S*\s+){0,2}", "", text.strip())   # a leading timestamp or two
    return _NOISE.sub("#", body)[:80]
