"""What the report owes (open, comments, close), delivered exactly once, never blocking the incident.

The phases do not call the report sink directly: they `submit` operations. Each is delivered at once
when the sink answers within `report_timeout_seconds`; if the sink is down, slow or rate-limited,
the operation stays in `status.report.outbox` and the analysis, diagnosis and remediation go on. The
operator's work queue (handlers.deliver_report) retries pending outboxes with backoff until they are empty.

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
from .sinks import ReportRef, ReportSink, SinkRejected

if TYPE_CHECKING:
    from ..phases.context import PhaseContext

# each: (status, spec, incident=(namespace, name)) -> Markdown
COMMENT_RENDERERS = {
    "analysis": lambda status, spec, incident=None: render.analysis_comment(status),
    "resolution": lambda status, spec, incident=None: render.resolution_comment(status, spec),
    "recovered": lambda status, spec, incident=None: "\n".join(["# 알람 정상화", ""] + render.recovery_section(status, spec)),
    "approval": render.approval_comment,  # names this Incident in its approve / deny commands
    "effectiveness": lambda status, spec, incident=None: "\n".join(["# 조치 효과 확인", ""] + render.effectiveness_section(status)),
}


def fingerprint(ctx: "PhaseContext") -> str:
    return f"{ctx.namespace}/{ctx.name}/{ctx.incident['metadata'].get('uid', '')}"


def _base_key(key: str) -> str:
    key = key.split("-run", 1)[0]  # "analysis-run2" renders like "analysis"
    return "approval" if key.startswith("approval-") else key  # "approval-<plan>": one comment per proposed plan


def _delivered(report: dict[str, Any], op: dict[str, Any]) -> bool:
    if op["op"] == "open":
        return bool(report.get("ref"))
    if op["op"] == "comment":
        return op["key"] in (report.get("comments") or [])
    return bool(report.get("closed"))


def first_try(ctx: "PhaseContext", report: dict[str, Any], op: dict[str, Any], earlier: list[dict[str, Any]]) -> bool:
    """Whether no earlier attempt of `op` can have reached the sink: it is new in the first run of its phase
    (the run count is written before the phase runs, so a crash mid-way makes it 2; a phase re-entered after
    a wait has `status.waiting` set), and nothing was tried and left owing before. Then the sink need not
    look for what it already posted."""
    phase = ctx.status.get("phase")
    runs = ((ctx.status.get("phases") or {}).get(phase) or {}).get("runs")
    return runs == 1 and not ctx.status.get("waiting") and not report.get("attempts") and op not in earlier


def _run(ctx: "PhaseContext", sink: ReportSink, report: dict[str, Any], op: dict[str, Any], view: dict[str, Any],
         fresh: bool = False) -> None:
    """One operation against one sink; updates that sink's `report` state in place."""
    spec = ctx.incident.get("spec", {})
    status = {**ctx.status, **view, "report": report}
    if op["op"] == "open":
        ref = sink.open(fingerprint(ctx), render.issue_title(spec, ctx.name),
                        render.opening_body(ctx.name, spec, status), render.labels(spec), fresh=fresh)
        report.update(ref.model_dump(exclude_none=True))
        return
    ref = ReportRef.model_validate(report)
    if op["op"] == "comment":
        body = COMMENT_RENDERERS[_base_key(op["key"])](status, spec, (ctx.namespace, ctx.name))
        sink.comment(ref, op["key"], body, fresh=fresh)
    else:
        sink.close(ref, op.get("title") or "# 복구 완료")
    closed = op["op"] == "close" or bool(report.get("closed"))
    sink.update(ref, fingerprint(ctx), render.issue_title(spec, ctx.name), render.opening_body(ctx.name, spec, status),
                render.labels(spec), render.state_text(status, closed, op.get("title")))
    if op["op"] == "comment":
        report["comments"] = sorted(set(report.get("comments") or []) | {op["key"]})
    else:
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


def sinks(ctx: "PhaseContext") -> list[ReportSink]:
    """The primary sink (its state is `status.report` itself) and the others (each in `status.report.{name}`)."""
    return [ctx.sink, *getattr(ctx, "extra_sinks", [])]


def deliver(ctx: "PhaseContext", new: list[dict[str, Any]] | None = None, *, patch: bool = True,
            view: dict[str, Any] | None = None) -> dict[str, Any]:
    """Queue `new` operations for every sink and deliver what each owes, in order, until that sink fails.

    `view`: status fields the calling phase is about to write (rendered as if already there).
    Returns the new `status.report` (also patched into status unless `patch` is False)."""
    report = dict(ctx.status.get("report") or {})
    _deliver_to(ctx, ctx.sink, report, new, view or {}, "")
    for sink in sinks(ctx)[1:]:
        state = dict(report.get(sink.name) or {})
        _deliver_to(ctx, sink, state, new, view or {}, f"-{sink.name}")
        report[sink.name] = state
    report["pending"] = True if owes(report) else None
    if patch:
        ctx.patch_status({"report": report})
    return report


def _deliver_to(ctx: "PhaseContext", sink: ReportSink, report: dict[str, Any], new: list[dict[str, Any]] | None,
                view: dict[str, Any], suffix: str) -> None:
    report.setdefault("sink", sink.name)
    report.setdefault("comments", [])
    report.setdefault("closed", False)
    pending = [dict(op) for op in report.get("outbox") or []]
    earlier = list(pending)  # owed from before: tried already, or at least not new
    for op in new or []:
        if op not in pending and not _delivered(report, op):
            pending.append(op)
    where = f" ({sink.name})" if suffix else ""
    while pending:
        op = pending[0]
        if _delivered(report, op):
            pending.pop(0)
            continue
        if op["op"] != "open" and not report.get("ref"):
            pending.insert(0, {"op": "open"})  # comments need the report opened first
            continue
        try:
            _with_deadline(ctx, _run, ctx, sink, report, op, view, first_try(ctx, report, op, earlier))
        except SinkRejected as exc:  # the sink said no for good (bad credentials, no such repository)
            report.update(failed=True, lastError=redact(str(exc))[:500], outbox=[], pending=None, nextAttemptAt=None)
            ctx.events.emit("ReportFailed", f"리포트 전달 불가{where} (재시도하지 않음): {report['lastError']}", warning=True,
                            key=f"report-failed{suffix}")
            pending = []
            break
        except Exception as exc:  # noqa: BLE001 - down, slow, rate-limited: keep it, try again later
            attempts = int(report.get("attempts") or 0) + 1
            delay = min(ctx.settings.report_retry_max_seconds, ctx.settings.report_retry_seconds * 2 ** (attempts - 1))
            delay = max(delay, float(getattr(exc, "retry_after", None) or 0))  # never sooner than the sink asked
            report.update(attempts=attempts, lastError=redact(f"{type(exc).__name__}: {exc}")[:500],
                          nextAttemptAt=(datetime.now(timezone.utc) + timedelta(seconds=delay)).isoformat())
            if attempts == 1:
                ctx.events.emit("ReportDeferred", f"리포트 전달 지연{where}, 나중에 다시 보냄: {report['lastError']}", warning=True)
            break
        pending.pop(0)
        report.update(attempts=0, lastError=None, nextAttemptAt=None, deliveredAt=now_iso())
    report["outbox"] = pending or None
    report["pending"] = bool(pending) or None


def states(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The primary's state and every other sink's (a dict with its own `sink` name)."""
    return [report] + [v for k, v in report.items() if isinstance(v, dict) and v.get("sink") == k]


def owes(report: dict[str, Any] | None) -> bool:
    """Whether any sink still has something to deliver."""
    return any(s.get("outbox") for s in states(report or {}))


def seconds_until_due(status: dict[str, Any]) -> float:
    """Seconds until an owing sink's next attempt is due: 0 when one is due now (no time set, or it passed)."""
    now, waits = datetime.now(timezone.utc), []
    for state in states((status or {}).get("report") or {}):
        if not state.get("outbox"):
            continue
        try:
            at = datetime.fromisoformat(state["nextAttemptAt"])
            waits.append((at - now).total_seconds())
        except (KeyError, TypeError, ValueError):  # no time, or one we cannot read: due now
            return 0.0
    return max(0.0, min(waits, default=0.0))
