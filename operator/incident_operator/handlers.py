"""The Kopf operator: each Incident is reconciled through the pipeline, resumably."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import kopf

from . import grouping, metrics, pipeline, preflight, scheduling, watching
from .constants import ANN_RERUN, ANN_SILENCED, FINISHED_PHASES, GROUP, NEEDS_ACTION, PLURAL, RESOLVED, VERSION
from .kube.client import Kube
from .kube.incidents import IncidentStore
from .report import outbox
from .runtime import build_context
from .settings import get_settings
from .tools.base import ToolDeps

log = logging.getLogger(__name__)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    cfg = memo.get("settings") or get_settings()
    # Kopf's bookkeeping goes to annotations, so status holds only what users read.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=f"kopf.{GROUP}")
    # Archived (finished) Incidents are not watched; the diff base holds only the watched fields.
    watching.configure(settings, GROUP, PLURAL, prefix=f"kopf.{GROUP}")
    settings.peering.name = cfg.peering_name
    settings.peering.mandatory = False
    # Two replicas with equal priority would both freeze; a random one lets exactly one lead.
    settings.peering.priority = cfg.peering_priority if cfg.peering_priority is not None else random.randint(1, 10**6)
    settings.posting.enabled = False  # the pipeline posts its own Events
    settings.execution.max_workers = cfg.workers
    settings.networking.request_timeout = 60
    settings.watching.server_timeout = 300
    memo.kube = Kube.connect()
    memo.settings = cfg
    memo.deps = ToolDeps(settings=cfg, kube=memo.kube)
    memo.deps.client(grouping.ELECTIONS, dict)  # the parent elections' locks, one per namespace
    memo.gate = scheduling.PriorityGate(cfg.workers)  # Incidents worked on at once, most severe first
    memo.pipelines = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="pipeline")
    ensure_peering(memo.kube, cfg.peering_name, cfg.namespaces)
    preflight.report(cfg)  # a configured feature that cannot work: a warning now, not a silent fallback later


def ensure_peering(kube: Kube, name: str, namespaces: list[str]) -> None:
    """Create the peering object(s) replicas meet at, if the peering CRDs are installed."""
    from kubernetes.client import ApiException
    body = {"apiVersion": "kopf.dev/v1", "metadata": {"name": name}}
    creates = ([lambda ns=ns: kube.custom.create_namespaced_custom_object(
                   "kopf.dev", "v1", ns, "kopfpeerings", {**body, "kind": "KopfPeering"}) for ns in namespaces]
               or [lambda: kube.custom.create_cluster_custom_object(
                   "kopf.dev", "v1", "clusterkopfpeerings", {**body, "kind": "ClusterKopfPeering"})])
    for create in creates:
        try:
            create()
        except ApiException as exc:
            if exc.status == 403:
                log.warning("no permission to create the peering object %s; create it by hand", name)
            elif exc.status not in (404, 409):  # 404: no peering CRDs (standalone); 409: it exists
                raise


def _fresh(memo: kopf.Memo, namespace: str, name: str) -> dict:
    """The Incident as the API has it now (status included), not Kopf's cached body."""
    return IncidentStore(memo.kube).get(namespace, name)


def _reconcile(memo: kopf.Memo, namespace: str, name: str, logger: logging.Logger | logging.LoggerAdapter) -> dict:
    """Run what is left of the pipeline; returns the Incident's status as it ended."""
    incident = _fresh(memo, namespace, name)
    if (incident.get("status") or {}).get("phase") in FINISHED_PHASES:
        return incident.get("status") or {}
    ctx = build_context(memo.kube, memo.settings, incident, logger, memo.deps)
    try:
        phase = pipeline.run(ctx)
    except pipeline.RetryLater as exc:
        raise kopf.TemporaryError(str(exc), delay=exc.delay) from None
    logger.info("incident %s/%s finished: %s", namespace, name, phase)
    return ctx.status


def _unfinished(status: Any, **_: Any) -> bool:
    """Kopf evaluates this on the body it already has: a finished Incident costs no request at start-up."""
    return (status or {}).get("phase") not in FINISHED_PHASES


@kopf.on.resume(GROUP, VERSION, PLURAL, when=_unfinished)
@kopf.on.create(GROUP, VERSION, PLURAL, when=_unfinished)
async def reconcile(name: str, namespace: str, spec: Any, meta: Any, memo: kopf.Memo, logger: logging.Logger,
                    patch: kopf.Patch, **_: Any) -> None:
    """Waits for a worker slot (most severe first, then oldest), then runs the pipeline on a worker thread."""
    async with memo.gate.slot(scheduling.priority(spec, meta)):
        metrics.QUEUED.set(memo.gate.waiting)
        status = await asyncio.get_running_loop().run_in_executor(memo.pipelines, _reconcile, memo, namespace, name, logger)
    metrics.QUEUED.set(memo.gate.waiting)
    watching.label_finished(status, patch)


def _finished_unarchived(status: Any, labels: Any, **_: Any) -> bool:
    return watching.archivable(status) and not watching.is_archived(labels)


@kopf.on.resume(GROUP, VERSION, PLURAL, when=_finished_unarchived)
@kopf.on.create(GROUP, VERSION, PLURAL, when=_finished_unarchived)  # never seen by Kopf before
def archive_finished(patch: kopf.Patch, **_: Any) -> None:
    """A finished Incident still in view at start-up (written before archiving existed, or taken out of the
    archive by hand): archived once, so the next start does not list it."""
    watching.archive(patch)


@kopf.on.field(GROUP, VERSION, PLURAL, field=("metadata", "annotations", ANN_SILENCED))
def silence_changed(name: str, namespace: str, old: Any, new: Any, memo: kopf.Memo, logger: logging.Logger,
                    patch: kopf.Patch, **_: Any) -> None:
    """Un-silencing an Incident lets it carry on from where it stopped."""
    if old == "true" and new != "true":
        watching.label_finished(_reconcile(memo, namespace, name, logger), patch)


def _unsilenced(status: Any, annotations: Any, **_: Any) -> bool:
    return bool((status or {}).get("silenced")) and (annotations or {}).get(ANN_SILENCED) != "true"


@kopf.timer(GROUP, VERSION, PLURAL, interval=2.0, when=_unsilenced)
def carry_on_when_unsilenced(name: str, namespace: str, memo: kopf.Memo, logger: logging.Logger, patch: kopf.Patch,
                             **_: Any) -> None:
    """The annotation is gone but the Incident still says silenced: carry on. Decided on the current body,
    so it works even when the removal raced Kopf's own bookkeeping and no field change was seen."""
    watching.label_finished(_reconcile(memo, namespace, name, logger), patch)


@kopf.on.field(GROUP, VERSION, PLURAL, field=("metadata", "annotations", ANN_RERUN))
def rerun(name: str, namespace: str, new: Any, memo: kopf.Memo, logger: logging.Logger, patch: kopf.Patch,
          **_: Any) -> None:
    """`incident-operator rerun NAME` (or `kubectl annotate inc NAME netaiops.io/rerun=$(date +%s) --overwrite`
    on an Incident not archived yet): analyse again."""
    incident = _fresh(memo, namespace, name)
    status = incident.get("status") or {}
    if not new:
        return
    if status.get("rerunToken") == new:  # this re-run started already: carry it on (e.g. after a wait)
        watching.label_finished(_reconcile(memo, namespace, name, logger), patch)
        return
    if status.get("phase") not in FINISHED_PHASES and status.get("phase"):
        raise kopf.TemporaryError("the current run is still going; re-run after it finishes", delay=5)
    ctx = build_context(memo.kube, memo.settings, incident, logger, memo.deps)
    pipeline.restart(ctx, str(new))
    watching.label_finished(_reconcile(memo, namespace, name, logger), patch)


def expire_finished(store: IncidentStore, ttl: float, namespaces: list[str]) -> int:
    """Delete finished Incidents older than `ttl` seconds (their evidence ConfigMaps go with them)."""
    deleted = 0
    now = datetime.now(timezone.utc)
    pages = (page for ns in (namespaces or [None]) for page in store.pages(ns))  # one page in memory at a time
    for inc in (i for page in pages for i in page):
        meta = inc.get("metadata") or {}
        try:  # each Incident on its own: one bad value never stops the sweep
            status = inc.get("status") or {}
            finished = status.get("finishedAt")
            if status.get("phase") in FINISHED_PHASES and finished:
                at = datetime.fromisoformat(str(finished).replace("Z", "+00:00"))
                if at.tzinfo is None:
                    at = at.replace(tzinfo=timezone.utc)  # written without a zone: UTC, as the operator writes it
                age = (now - at).total_seconds()
                if age >= ttl:
                    log.info("deleting %s/%s: finished %.0fs ago (ttl %.0fs)", meta["namespace"], meta["name"], age, ttl)
                    store.delete(meta["namespace"], meta["name"])
                    deleted += 1
        except Exception as exc:  # noqa: BLE001 - say which one, go on with the rest
            log.warning("expiry: skipping %s/%s: %s", meta.get("namespace"), meta.get("name"), exc)
    return deleted


def _expiry_loop(memo: kopf.Memo, stop: threading.Event) -> None:
    # One sweep for all Incidents (no per-object timer, so Incidents carry no Kopf finalizer and stay
    # deletable without the operator). Deleting is idempotent, so a standby replica sweeping too is harmless.
    cfg = memo.settings
    while not stop.wait(cfg.gc_interval_seconds):
        try:
            expire_finished(IncidentStore(memo.kube), cfg.finished_ttl_seconds, cfg.namespaces)
        except Exception:  # noqa: BLE001 - try again next sweep
            log.exception("expiry sweep failed")


@kopf.on.startup()
def start_expiry(memo: kopf.Memo, **_: Any) -> None:
    if memo.settings.finished_ttl_seconds > 0:
        memo.expiry_stop = threading.Event()
        threading.Thread(target=_expiry_loop, args=(memo, memo.expiry_stop), name="expiry", daemon=True).start()


@kopf.on.cleanup()
def stop_expiry(memo: kopf.Memo, **_: Any) -> None:
    if memo.get("expiry_stop"):
        memo.expiry_stop.set()


@kopf.on.field(GROUP, VERSION, PLURAL, field="spec.recovery")
def alarm_recovered(name: str, namespace: str, new: Any, memo: kopf.Memo, logger: logging.Logger, patch: kopf.Patch,
                    **_: Any) -> None:
    """The alarm went back to OK: note it on the report and close it, if the analysis is done."""
    if not new or not new.get("recoveredAt"):
        return
    incident = _fresh(memo, namespace, name)
    status = incident.get("status") or {}
    if status.get("phase") not in (RESOLVED, NEEDS_ACTION) or not status.get("report") or status["report"].get("closed"):
        watching.label_finished(status, patch)  # nothing to note (or the responding phase reads spec.recovery itself)
        return
    ctx = build_context(memo.kube, memo.settings, incident, logger, memo.deps)
    ctx.patch_status({"outcome": status.get("outcome") if status.get("outcome") == "remediated" else "recovered"})
    outbox.deliver(ctx, [{"op": "comment", "key": "recovered"}, {"op": "close", "title": "# 알람 정상화"}])
    if status.get("phase") == NEEDS_ACTION:  # the alarm is back to OK: the incident is over
        pipeline.finish(ctx)
    watching.label_finished(ctx.status, patch)


def _has_outbox(status: Any, **_: Any) -> bool:
    return outbox.owes((status or {}).get("report"))


@kopf.timer(GROUP, VERSION, PLURAL, interval=5.0, when=_has_outbox)
def deliver_reports(name: str, namespace: str, memo: kopf.Memo, logger: logging.Logger, patch: kopf.Patch,
                    **_: Any) -> None:
    """What the report still owes, once the Incident is finished (while it runs, each phase delivers)."""
    incident = _fresh(memo, namespace, name)
    status = incident.get("status") or {}
    if status.get("phase") not in FINISHED_PHASES or not outbox.due(status):
        return
    ctx = build_context(memo.kube, memo.settings, incident, logger, memo.deps)
    report = outbox.deliver(ctx)
    if not outbox.owes(report):
        logger.info("report for %s/%s delivered", namespace, name)
        watching.label_finished(ctx.status, patch)
