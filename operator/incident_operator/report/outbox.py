"""What the report owes (open, comments, close), delivered exactly once, never blocking the incident.

The phases do not call the report sink directly: they `submit` operations. Each is delivered at once
when the sink answers within `report_timeout_seconds`; if the sink is down, slow or rate-limited,
the operation stays in `status.report.outbox` and the analysis, diagnosis and remediation go on. A
Kopf timer (handlers.deliver_reports) retries pending outboxes with backoff until they are empty.

Bodies are rendered from the Incident's status when delivered, so the outbox holds only small
entries (`{"op": "comment", "key": "analysis"}`). Delivery is at-least-once and every operation is
idempotent at the sink (the issue found by its fingerprint marker, comments by their key marker,
closing a closed issue is a no-op), which makes it exactly once.
"""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ..clock import now_iso
from ..redact import redact
from . import render
from .sinks import ReportRef, SinkRejected

if TYPE_CHECKING:
    from ..phases.context import PhaseContext

COMMENT_RENDERERS = {
    "analysis": lambda status, spec: render.analysis_comment(status),
    "resolution": render.resolution_comment,
    "recovered": lambda status, spec: "\n".join(["# 알람 정상화", ""] + render.recovery_section(status, spec)),
}


def fingerprint(ctx: "PhaseContext") -> str:
    return f"{ctx.namespace}/{ctx.name}/{ctx.incident['metadata'].get('uid', '')}"


def _base_key(key: str) -> str:
    return key.split("-run", 1)[0]  # "analysis-run2" renders like "analysis"


def _delivered(report: dict[str, Any], op: dict[str, Any]) -> bool:
    if op["op"] == "open":
        return bool(report.get("ref"))
    if op["op"] == "comment":
        return op["key"] in (report.get("comments") or [])
    return bool(report.get("closed"))


def _run(ctx: "PhaseContext", report: dict[str, Any], op: dict[str, Any], view: dict[str, Any]) -> None:
    """One operation against the sink; updates `report` in place."""
    spec = ctx.incident.get("spec", {})
    status = {**ctx.status, **view, "report": report}
    if op["op"] == "open":
        ref = ctx.sink.open(fingerprint(ctx), render.issue_title(spec, ctx.name),
                            render.opening_body(ctx.name, spec, status), render.labels(spec))
        report.update(ref.model_dump(exclude_none=True))
        return
    ref = ReportRef.model_validate(report)
    if op["op"] == "comment":
        body = COMMENT_RENDERERS[_base_key(op["key"])](status, spec)
        ctx.sink.comment(ref, op["key"], body)
        report["comments"] = sorted(set(report.get("comments") or []) | {op["key"]})
    else:
        ctx.sink.close(ref, op.get("title") or "# 복구 완료")
        report["closed"] = True


def _with_deadline(ctx: "PhaseContext", fn, *args) -> None:
    timeout = ctx.settings.report_timeout_seconds
    if ctx.deps is None:
        fn(*args)
        return
    future = ctx.deps.pool.submit(fn, *args)
    try:
        future.result(timeout=timeout)
    except FutureTimeout:
        raise TimeoutError(f"리포트 대상이 {timeout:g}초 안에 응답하지 않음") from None


def deliver(ctx: "PhaseContext", new: list[dict[str, Any]] | None = None, *, patch: bool = True,
            view: dict[str, Any] | None = None) -> dict[str, Any]:
    """Queue `new` operations and deliver everything pending, in order, until the sink fails.

    `view`: status fields the calling phase is about to write (rendered as if already there).
    Returns the new `status.report` (also patched into status unless `patch` is False)."""
    report = dict(ctx.status.get("report") or {})
    report.setdefault("sink", ctx.sink.name)
    report.setdefault("comments", [])
    report.setdefault("closed", False)
    pending = [dict(op) for op in report.get("outbox") or []]
    for op in new or []:
        if op not in pending and not _delivered(report, op):
            pending.append(op)
    while pending:
        op = pending[0]
        if _delivered(report, op):
            pending.pop(0)
            continue
        if op["op"] != "open" and not report.get("ref"):
            pending.insert(0, {"op": "open"})  # comments need the report opened first
            continue
        try:
            _with_deadline(ctx, _run, ctx, report, op, view or {})
        except SinkRejected as exc:  # the sink said no for good (bad credentials, no such repository)
            report.update(failed=True, lastError=redact(str(exc))[:500], outbox=[], pending=None, nextAttemptAt=None)
            ctx.events.emit("ReportFailed", f"리포트 전달 불가 (재시도하지 않음): {report['lastError']}", warning=True,
                            key="report-failed")
            pending = []
            break
        except Exception as exc:  # noqa: BLE001 - down, slow, rate-limited: keep it, try again later
            attempts = int(report.get("attempts") or 0) + 1
            delay = min(ctx.settings.report_retry_max_seconds, ctx.settings.report_retry_seconds * 2 ** (attempts - 1))
            report.update(attempts=attempts, lastError=redact(f"{type(exc).__name__}: {exc}")[:500],
                          nextAttemptAt=(datetime.now(timezone.utc) + timedelta(seconds=delay)).isoformat())
            if attempts == 1:
                ctx.events.emit("ReportDeferred", f"리포트 전달 지연, 나중에 다시 보냄: {report['lastError']}", warning=True)
            break
        pending.pop(0)
        report.update(attempts=0, lastError=None, nextAttemptAt=None, deliveredAt=now_iso())
    report["outbox"] = pending or None
    report["pending"] = bool(pending) or None
    if patch:
        ctx.patch_status({"report": report})
    return report


def due(status: dict[str, Any]) -> bool:
    """Whether an Incident's outbox should be tried now (the timer's filter)."""
    report = (status or {}).get("report") or {}
    if not report.get("outbox"):
        return False
    at = report.get("nextAttemptAt")
    try:
        return not at or datetime.fromisoformat(at) <= datetime.now(timezone.utc)
    except ValueError:
        return True
