"""Application errors seen in the logs: a dominant error type, e.g. a dependency that is down."""

from __future__ import annotations

import re
from collections import Counter

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import EvidenceBundle, LogEntry
from .base import Analyzer, clamp
from .logs import ERROR_LEVELS, error_signature, field_message, fields, line_level, status_code

DEPENDENCY = re.compile(r"connection refused|timed? ?out|unreachable|no route to host|circuit breaker|503|502|"
                        r"name or service not known|could not resolve|connection reset", re.I)
MIN_ERRORS = 5


def is_error(level: str | None, text: str) -> bool:
    """An error line: its level (given, or the one it declares), or a structured line's 5xx status."""
    if (level or "").upper() in ERROR_LEVELS:
        return True
    if level:
        return False
    if line_level(text) in ERROR_LEVELS:
        return True
    f = fields(text)
    return bool(f) and (status_code(f) or 0) >= 500


def structured_signature(text: str) -> str | None:
    """A structured line's error, without what changes between lines (the whole JSON would never repeat)."""
    f = fields(text)
    msg = field_message(f) if f else None
    if not msg:
        return None
    status = status_code(f)
    return (f"{status} " if status else "") + error_signature(msg)


class AppErrorsAnalyzer(Analyzer):
    kind = "app-errors"
    title = "애플리케이션 에러 로그 급증"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        # a level from the entry, else from the line itself (logfmt level=error, JSON "level": 50, ...)
        errors = [(l if l.error_type else l.model_copy(update={"error_type": structured_signature(l.message)}))
                  for l in bundle.logs if l.service != "datadog-monitor" and is_error(l.level, l.message)]
        source = "opensearch"
        if len(errors) < MIN_ERRORS:  # the containers' own logs, as the kubelet serves them
            errors = [LogEntry(message=line, level=line_level(line), pod=f"Pod/{p.namespace}/{p.name}",
                               error_type=structured_signature(line) or error_signature(line))
                      for p in bundle.cluster.pods for line in (p.log_tail or "").splitlines()
                      if is_error(None, line)]
            source = "cluster"
        if len(errors) < MIN_ERRORS:
            return []
        kinds = Counter(l.error_type or l.message[:80] for l in errors)
        top, count = kinds.most_common(1)[0]
        sample = next(l for l in errors if (l.error_type or l.message[:80]) == top)
        share = count / len(errors)
        dependency = bool(DEPENDENCY.search(sample.message))
        service = sample.service or (bundle.target.name or bundle.target.pod or "?")
        ref = (ResourceRef(kind=bundle.target.kind, name=bundle.target.name, namespace=bundle.target.namespace)
               if bundle.target.kind and bundle.target.name else None)
        title = (f"`{service}`의 의존 서비스 장애로 에러 급증: {top} ({count}건)" if dependency
                 else f"`{service}` 애플리케이션 에러 급증: {top} ({count}건)")
        return [Cause(
            # like the other log-read kinds (dns-resolution): one signature seen many times is stronger than a few
            kind=self.kind, title=title, confidence=clamp(0.6 + 0.15 * share + (0.05 if dependency else 0)
                                                          + 0.01 * min(max(count - MIN_ERRORS, 0), 10)),
            resource=ref,
            evidence=[EvidenceItem(source=source, text=f"에러 로그 {len(errors)}건 중 {count}건이 {top}: {sample.message[:200]}",
                                   ref=sample.pod)],
            immediate_actions=["에러 메시지가 가리키는 의존 서비스(DB, 외부 API) 상태 확인" if dependency
                               else "최근 배포 변경분과 에러 스택 확인",
                               "`opensearch-get-error-summary`로 에러 유형별 추이 확인"],
            long_term=["의존 서비스 호출에 타임아웃·재시도·서킷 브레이커 적용", "에러율 기반 알람 추가"],
        )]
