"""Every log line an analyzer can read: the pods' log tails (any format, with or without a level) and the
application logs from OpenSearch (any level). One place, so no analyzer misses a source."""

from __future__ import annotations

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
