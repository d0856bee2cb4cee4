"""Lambda entry point: `bridge_lambda.handler.handle(event, context)` for SNS events.

Every record is handled on its own; nothing a record holds can stop the rest of the batch.
The alarm-level notification of a multi-time-series (Metrics Insights GROUP BY) alarm is logged and
answered `alarm-level`: the contributors' own notifications carry the Incidents (docs/aws-contracts.md).
Records that can never succeed are *permanent*: not an SNS notification, not a CloudWatch alarm,
bad fields, or rejected by the API server for good (400/403/404/422: validation, permission) —
logged as `record.invalid` with the API's own message and not retried. Only failures that may pass
(network, 5xx, 429 throttling, 401 with an expired token) are *transient*: the invocation fails after
the whole batch was tried, so Lambda retries it; records already applied are recognised by the
alarm's state record (same transition = duplicate), however often they come back. After Lambda's
retries, the event goes to the function's on-failure destination (see docs/aws.md).
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from typing import Any

from .alarm import InvalidRecord, parse_message
from .config import BridgeConfig
from .incidents import IncidentWriter

log = logging.getLogger("incident_bridge")
log.setLevel(logging.INFO)

MAX_MESSAGE_ID = 256  # SNS MessageIds are UUIDs; anything longer is not one
TRANSIENT_STATUS = {401, 408, 429}


class RetryableRecords(RuntimeError):
    """Raised after the batch when some records should be delivered again."""


_SECRETS = re.compile(r"(?i)(bearer\s+|k8s-aws-v1\.)[A-Za-z0-9._~+/=-]+|(X-Amz-(Signature|Credential|Security-Token)=)[^&\s\"']+")


def _clean(text: str) -> str:
    return _SECRETS.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


def _log(level: int, event: str, **fields: Any) -> None:
    log.log(level, _clean(json.dumps({"event": event, **fields}, ensure_ascii=False, default=str)))


@lru_cache(maxsize=1)
def default_writer() -> IncidentWriter:
    from .kube import api_client
    cfg = BridgeConfig.from_env()
    return IncidentWriter(api_client(cfg), cfg)


def _sns(record: Any) -> dict[str, Any] | None:
    sns = record.get("Sns") if isinstance(record, dict) else None
    return sns if isinstance(sns, dict) else None


def _message_id(record: Any) -> str | None:
    mid = (_sns(record) or {}).get("MessageId")
    return mid[:MAX_MESSAGE_ID] if isinstance(mid, str) else None


def _alarm_name(record: Any) -> str | None:
    """The AlarmName of a record's notification, when it has one (for the log line of a bad record)."""
    try:
        name = json.loads((_sns(record) or {}).get("Message") or "{}").get("AlarmName")
    except (TypeError, ValueError, AttributeError):
        return None
    return str(name)[:255] if name else None


def api_message(exc: Exception) -> str:
    """The API server's own message (its Status body), not the HTTP headers around it."""
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return f"{getattr(exc, 'status', '')} {data.get('reason') or ''}: {data['message']}".strip()[:1000]
        except (TypeError, ValueError):
            pass
    status, reason = getattr(exc, "status", None), getattr(exc, "reason", None)
    if status is not None:
        return f"{status} {reason or ''}".strip()
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def is_permanent(exc: Exception) -> bool:
    status = getattr(exc, "status", None)
    return isinstance(status, int) and 400 <= status < 500 and status not in TRANSIENT_STATUS


def handle_record(record: dict[str, Any], writer: IncidentWriter) -> dict[str, Any]:
    sns = _sns(record)
    if sns is None or not isinstance(sns.get("Message"), str):
        raise InvalidRecord("record is not an SNS notification (no Sns.Message)")
    message_id = sns.get("MessageId")
    if not isinstance(message_id, str) or not message_id:
        raise InvalidRecord("SNS notification has no MessageId")
    if len(message_id) > MAX_MESSAGE_ID:
        raise InvalidRecord(f"SNS MessageId is {len(message_id)} characters long (at most {MAX_MESSAGE_ID})")
    alarm = parse_message(sns["Message"])
    result: dict[str, Any] = {"messageId": message_id, "alarm": alarm.name, "state": alarm.new_state}
    if alarm.new_state not in ("ALARM", "OK"):
        _log(logging.INFO, "alarm.insufficient_data", messageId=message_id, alarm=alarm.name)
        return result | {"status": "ignored"}
    if alarm.is_alarm_level:
        # a multi-time-series alarm notifies per contributor (each its own Incident, own recovery) and, beside
        # that, at alarm level with a count and no resource: recorded here, never a second, cluster-wide Incident
        _log(logging.INFO, "alarm.alarm_level", messageId=message_id, alarm=alarm.name, state=alarm.new_state,
             reason=(alarm.reason or "")[:300], changedAt=alarm.changed_at.isoformat())
        return result | {"status": "alarm-level"}
    w = writer.on_notification(alarm, sns["Message"], message_id)
    return result | {"status": w.outcome, "incident": w.incident, "occurrences": w.occurrences}


def failed_event(record: Any) -> dict[str, Any] | None:
    """The SNS event inside what Lambda sends to an on-failure destination (an invocation record:
    `{"version": "1.0", "requestContext": {"condition": "RetriesExhausted", ...}, "requestPayload": EVENT,
    "responseContext": {...}, "responsePayload": {"errorMessage": ...}}`), or inside a dead-letter queue
    message (the event itself), possibly as the JSON text of an SQS/SNS message body."""
    if isinstance(record, str):
        try:
            record = json.loads(record)
        except ValueError:
            return None
    if not isinstance(record, dict):
        return None
    if isinstance(record.get("requestContext"), dict) and "requestPayload" in record:
        payload = record["requestPayload"]
        return payload if isinstance(payload, dict) and isinstance(payload.get("Records"), list) else None
    return record if isinstance(record.get("Records"), list) else None


def redrive(records: list[Any], writer: IncidentWriter | None = None) -> dict[str, Any]:
    """Hand failed invocations back to the bridge (after an outage): what already landed is recognised
    by the alarms' state records, the rest is applied. Returns the results per failed event."""
    out = []
    for rec in records:
        event = failed_event(rec)
        if event is None:
            out.append({"status": "invalid", "reason": "not a Lambda invocation record or SNS event"})
            continue
        try:
            out.append(handle(event, None, writer))
        except RetryableRecords as exc:
            out.append({"status": "error", "reason": str(exc)})
    return {"events": out}


def handle(event: dict[str, Any], context: Any = None, writer: IncidentWriter | None = None) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        _log(logging.ERROR, "event.invalid", reason="event has no Records list")
        return {"results": [], "errors": 1}
    writer = writer or default_writer()
    results: list[dict[str, Any]] = []
    retry: list[str] = []
    for index, record in enumerate(records):
        message_id = _message_id(record)
        alarm = _alarm_name(record)
        try:
            res = handle_record(record, writer)
            _log(logging.INFO, "record.done", index=index, **{k: v for k, v in res.items() if v is not None})
        except InvalidRecord as exc:
            res = {"messageId": message_id, "status": "invalid", "reason": str(exc)}
            _log(logging.WARNING, "record.invalid", index=index, messageId=message_id, alarm=alarm, reason=str(exc))
        except Exception as exc:  # noqa: BLE001 - the batch goes on, whatever one record does
            reason = api_message(exc)
            if is_permanent(exc):  # the API said no for good: retrying cannot help
                res = {"messageId": message_id, "status": "invalid", "reason": f"rejected by the API server: {reason}"}
                _log(logging.WARNING, "record.invalid", index=index, messageId=message_id, alarm=alarm, reason=res["reason"])
            else:
                res = {"messageId": message_id, "status": "error", "reason": reason}
                _log(logging.ERROR, "record.error", index=index, messageId=message_id, alarm=alarm, reason=reason)
                retry.append(message_id or f"#{index}")
        results.append(res)
    summary = {"results": results, "errors": len(retry)}
    if retry:
        raise RetryableRecords(f"{len(retry)} record(s) to retry: {', '.join(retry)}")
    return summary
