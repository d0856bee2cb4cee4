"""A slow dependency: requests that take seconds or hit their deadline, usually logged without an ERROR
level (warnings, access logs), so the error-count analyzers miss it."""

from __future__ import annotations

import re
from collections import Counter

from ..models.diagnosis import Cause
from ..models.evidence import EvidenceBundle
from .base import Analyzer, clamp
from .logs import Line, fields, latency_ms, log_items, log_lines, matching

SLOW = re.compile(r"(?:took|latency[=:]?|duration[=:]?|elapsed[=:]?|in)\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|seconds)\b|"
                  r"deadline exceeded|context deadline|read timed? ?out|upstream timed out|slow (query|request|response)", re.I)
TARGET = re.compile(r"(?:to|from|upstream|calling|GET|POST|PUT)\s+['\"]?(https?://[\w.:-]+|[a-z][\w-]*\.[\w.-]+(?::\d+)?)", re.I)
SLOW_MS = 1000


def _slow(text: str) -> bool:
    m = SLOW.search(text)
    if not m:
        return False
    if m.group(1):
        value = float(m.group(1)) * (1 if m.group(2).lower() == "ms" else 1000)
        return value >= SLOW_MS
    return True


def _slow_lines(bundle: EvidenceBundle) -> tuple[list[Line], list[tuple[Line, dict]]]:
    """Lines that tell of a slow request: in words (took 2.1s, deadline exceeded) or in a structured field
    ("responseTime": 7800, duration_ms=7800, request_time=7.8), and the structured ones with their fields."""
    lines = [l for l in matching(bundle, SLOW) if _slow(l.text)]
    seen = set(lines)
    structured: list[tuple[Line, dict]] = []
    for l in log_lines(bundle):
        f = fields(l.text)
        ms = latency_ms(f) if f else None
        if ms is not None and ms >= SLOW_MS:
            structured.append((l, f))
            if l not in seen:
                lines.append(l)
    return lines, structured


def slow_lines(bundle: EvidenceBundle) -> list[Line]:
    return _slow_lines(bundle)[0]


class SlowDependencyAnalyzer(Analyzer):
    kind = "slow-dependency"
    title = "의존 서비스 응답 지연"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        lines, structured = _slow_lines(bundle)
        if len(lines) < 3:
            return []
        targets = Counter(m.group(1) for l in lines for m in [TARGET.search(l.text)] if m)
        for _, f in structured:  # the upstream a structured line names
            up = next((str(v) for k, v in f.items() if k.lower().rsplit(".", 1)[-1] in (
                "upstream", "upstream_addr", "dependency", "peer", "host", "target", "url", "downstream") and v), None)
            if up:
                targets[up[:80]] += 1
        dep = targets.most_common(1)[0][0] if targets else None
        return [Cause(
            kind=self.kind, title=f"의존 서비스 `{dep or '?'}` 응답 지연 ({len(lines)}건, 1초 이상 또는 타임아웃)",
            # a latency field states the number outright (no guess from prose): a little more weight
            confidence=clamp(0.65 + min(len(lines), 10) * 0.02 + (0.05 if len(structured) >= 3 else 0)), evidence=log_items(lines),
            immediate_actions=[f"`{dep or '의존 서비스'}`의 지연·포화 상태(CPU, 커넥션 풀, DB 쿼리) 확인",
                               "호출 측 타임아웃과 재시도 설정 확인 (재시도 폭주 여부)"],
            long_term=["의존 호출별 지연 지표와 SLO 알람", "타임아웃·서킷 브레이커·벌크헤드 적용"],
        )]
