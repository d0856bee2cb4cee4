"""Lambda entry point: `bridge_lambda.handler.handle(event, context)` for SNS events.

Every record is handled on its own. Records that can never succeed (not JSON, not a CloudWatch
alarm, missing fields) are reported and dropped; records that failed for a reason that may pass
(the API server unreachable, throttling) make the invocation fail after all records were tried, so
Lambda retries the event — records already applied are recognised by their MessageId and skipped.
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


def handle_record(record: dict[str, Any], writer: IncidentWriter) -> dict[str, Any]:
    sns = record.get("Sns") if isinstance(record, dict) else None
    if not isinstance(sns, dict) or "Message" not in sns:
        raise InvalidRecord("record is not an SNS notification (no Sns.Message)")
    message_id = sns.get("MessageId") or ""
    if not message_id:
        raise InvalidRecord("SNS notification has no MessageId")
    alarm = parse_message(sns["Message"])
    result: dict[str, Any] = {"messageId": message_id, "alarm": alarm.name, "state": alarm.new_state}
    if alarm.new_state == "ALARM":
        w = writer.on_alarm(alarm, sns["Message"], message_id)
    elif alarm.new_state == "OK":
        w = writer.on_ok(alarm, message_id)
    else:
        _log(logging.INFO, "alarm.insufficient_data", messageId=message_id, alarm=alarm.name)
        return result | {"status": "ignored"}
    return result | {"status": w.outcome, "incident": w.incident, "occurrences": w.occurrences}


def handle(event: dict[str, Any], context: Any = None, writer: IncidentWriter | None = None) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        _log(logging.ERROR, "event.invalid", reason="event has no Records list")
        return {"results": [], "errors": 1}
    writer = writer or default_writer()
    results: list[dict[str, Any]] = []
    retry: list[str] = []
    for index, record in enumerate(records):
        message_id = ((record or {}).get("Sns") or {}).get("MessageId") if isinstance(record, dict) else None
        try:
            res = handle_record(record, writer)
            _log(logging.INFO, "record.done", index=index, **{k: v for k, v in res.items() if v is not None})
        except InvalidRecord as exc:
            res = {"messageId": message_id, "status": "invalid", "reason": str(exc)}
            _log(logging.WARNING, "record.invalid", index=index, messageId=message_id, reason=str(exc))
        except Exception as exc:  # noqa: BLE001 - the batch goes on; this record is retried
            res = {"messageId": message_id, "status": "error", "reason": f"{type(exc).__name__}: {str(exc)[:300]}"}
            _log(logging.ERROR, "record.error", index=index, messageId=message_id, reason=res["reason"])
            retry.append(message_id or f"#{index}")
        results.append(res)
    summary = {"results": results, "errors": len(retry)}
    if retry:
        raise RetryableRecords(f"{len(retry)} record(s) to retry: {', '.join(retry)}")
    return summary
