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
            raw = next((doc[k] for k in ("level", "lvl", "severity", "log.level", "levelname") if k in doc), None)
            level = numeric_level(raw) or (str(raw) if raw is not None else None)
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


# ---- structured lines: JSON and logfmt -------------------------------------------------------------------
_LOGFMT_PAIR = re.compile(r'(?:^|\s)([\w.@-]+)=("(?:[^"\\]|\\.)*"|\S*)')


def fields(text: str) -> dict[str, object]:
    """The fields of a structured log line: a JSON object (nested objects flattened one level, `http.status`), or
    logfmt (`level=error msg="..." duration=1.2s`, at least two pairs). {} for plain text."""
    text = text.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text[:8000])
        except ValueError:
            return {}
        if not isinstance(doc, dict):
            return {}
        out: dict[str, object] = {}
        for k, v in doc.items():
            if isinstance(v, dict):
                out.update({f"{k}.{k2}": v2 for k2, v2 in v.items() if not isinstance(v2, (dict, list))})
            elif not isinstance(v, list):
                out[k] = v
        return out
    pairs = _LOGFMT_PAIR.findall(text[:4000])
    if len(pairs) < 2:
        return {}
    return {k: (v[1:-1].replace('\\"', '"') if v.startswith('"') else v) for k, v in pairs}


def _key(k: str) -> str:
    return re.sub(r"[^a-z0-9]", "", k.rsplit(".", 1)[-1].lower())


# latency field names -> the unit a bare number is in
_LATENCY_KEYS = {
    "responsetime": "ms", "responsetimems": "ms", "durationms": "ms", "latencyms": "ms", "elapsedms": "ms",
    "tookms": "ms", "timems": "ms", "requesttimems": "ms", "upstreamresponsetimems": "ms", "timetaken": "ms",
    "requestduration": "ms", "responsetimemillis": "ms", "durationmillis": "ms",
    "requesttime": "s", "upstreamresponsetime": "s", "durations": "s", "latencys": "s", "elapseds": "s",
    "durationseconds": "s", "latencyseconds": "s", "elapsedseconds": "s",
    "duration": "?", "latency": "?", "elapsed": "?", "took": "?", "responsetimeus": "us", "durationus": "us",
    "durationns": "ns", "latencyns": "ns",
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|sec|secs|seconds|m|min)?\s*$", re.I)
_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0, "sec": 1000.0, "secs": 1000.0,
            "seconds": 1000.0, "m": 60000.0, "min": 60000.0}


def latency_ms(f: dict[str, object]) -> float | None:
    """The request latency a structured line states, in milliseconds: `"responseTime": 7800`, `duration_ms=12`,
    `request_time=7.8` (nginx, seconds), `duration=7.8s` / `"latency": "1.2s"`. A bare number under an ambiguous
    name (duration, latency) is milliseconds when at least 100, else seconds."""
    best = None
    for k, v in f.items():
        unit = _LATENCY_KEYS.get(_key(k))
        if unit is None or isinstance(v, bool):
            continue
        m = _DURATION.match(str(v))
        if not m:
            continue
        value, suffix = float(m.group(1)), (m.group(2) or "").lower()
        if suffix:
            ms = value * _UNIT_MS[suffix]
        elif unit == "?":
            ms = value if value >= 100 else value * 1000
        else:
            ms = value * {"ms": 1.0, "s": 1000.0, "us": 1e-3, "ns": 1e-6}[unit]
        best = ms if best is None else max(best, ms)
    return best


_STATUS_KEYS = {"status", "statuscode", "httpstatus", "responsestatus", "code", "upstreamstatus"}


def status_code(f: dict[str, object]) -> int | None:
    for k, v in f.items():
        if _key(k) in _STATUS_KEYS and str(v).isdigit() and 100 <= int(str(v)) <= 599:
            return int(str(v))
    return None


def field_message(f: dict[str, object]) -> str | None:
    """What a structured line says (msg / message / error), without the fields that change between lines."""
    for k in ("error", "err", "error.message", "exception", "msg", "message", "event"):
        if k in f and f[k]:
            return str(f[k])
    return None


# pino / bunyan numeric levels
_NUMERIC_LEVELS = {10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL"}


def numeric_level(value: object) -> str | None:
    return _NUMERIC_LEVELS.get(int(value)) if isinstance(value, int) and not isinstance(value, bool) else None
