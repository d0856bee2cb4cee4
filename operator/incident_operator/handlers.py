"""The Kopf operator: each Incident is reconciled through the pipeline, resumably."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import kopf

from . import grouping, metrics, next_step, peering, pipeline, preflight, scheduling, tenancy, watching
from .constants import ANN_RERUN, FINISHED_PHASES, GROUP, NEEDS_ACTION, PLURAL, VERSION
from .kube import approvals
from .kube.client import Kube
from .kube.incidents import IncidentStore, WriteLog
from .report import outbox
from .runtime import WRITES, build_context
from .settings import get_settings
from .tools.base import ToolDeps

log = logging.getLogger(__name__)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    cfg = memo.get("settings") or get_settings()
    # Kopf only watches (one event handler, no change handlers: it never writes to an Incident); the
    # operator's work queue (scheduling.py) decides what is done and when.
    watching.configure(settings, GROUP, PLURAL)  # archived (finished) Incidents are not watched
    settings.peering.name = cfg.peering_name
    settings.peering.mandatory = False
    # Two replicas with equal priority would both freeze; a random one lets exactly one lead.
    settings.peering.priority = cfg.peering_priority if cfg.peering_priority is not None else random.randint(1, 10**6)
    settings.posting.enabled = False  # the pipeline posts its own Events
    settings.networking.request_timeout = 60
    settings.watching.server_timeout = 300
    memo.kopf_settings = settings
    memo.settings = cfg
    peers = await asyncio.to_thread(connect, memo, cfg, settings)  # blocking I/O, off the event loop
    memo.queue = scheduling.WorkQueue(cfg.workers, functools.partial(work, memo), memo.pipelines,
                                      paused=peers.paused if peers else (lambda: False))
    # the pending-approvals gauge: from the API server when scraped, reported by the replica that leads
    metrics.watch_approvals(functools.partial(approvals.pending_plans, memo.kube, cfg.namespaces),
                            leading=(lambda: not peers.paused()) if peers else (lambda: True),
                            ttl=cfg.metrics_approvals_cache_seconds)
    memo.queue.start()  # on the event loop Kopf runs: the workers are its tasks


def connect(memo: kopf.Memo, cfg: Any, settings: kopf.OperatorSettings) -> peering.Peers | None:
    """The operator's long-lived parts; the peering object and who to defer to (None: standalone)."""
    memo.kube = Kube.connect()
    memo.deps = ToolDeps(settings=cfg, kube=memo.kube)
    memo.deps.client(grouping.ELECTIONS, dict)  # the parent elections' locks, one per namespace
    memo.writes = memo.deps.client(WRITES, WriteLog)  # the operator's own Incident writes
    memo.pipelines = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="pipeline")
    peers = None
    if not settings.peering.standalone:
        peering.ensure_peering(memo.kube, cfg.peering_name, cfg.namespaces)
        if memo.get("peer_identity"):  # the identity Kopf peers under (cli.py sets it): defer as Kopf does
            peers = peering.Peers(memo.kube, cfg.peering_name, cfg.namespaces, memo.peer_identity,
                                  settings.peering.priority)
    preflight.report(cfg)  # a configured feature that cannot work: a warning now, not a silent fallback later
    return peers


@kopf.on.cleanup()
async def stop_workers(memo: kopf.Memo, **_: Any) -> None:
    if memo.get("queue"):
        await memo.queue.stop()


@kopf.on.event(GROUP, VERSION, PLURAL)
async def incident_event(event: Any, memo: kopf.Memo, **_: Any) -> None:
    """Every watch event of a watched (not archived) Incident: at most one queue entry, decided on the event's
    body alone (no request), and Kopf's handler is done at once."""
    body = event.get("object") or {}
    meta = body.get("metadata") or {}
    key = (meta.get("namespace"), meta.get("name"))
    if event.get("type") == "DELETED":  # deleted, or archived (it left the watch's label selector)
        memo.queue.cancel(key)
        memo.writes.forget(*key)  # nothing is held for a finished Incident
        return
    watched = next_step.watched(body)
    if memo.queue.seen(key, watched):
        return  # being worked on: looked at again afterwards if people asked something meanwhile
    if memo.writes.ours(*key, meta.get("resourceVersion")):
        return  # our own write: its writer decided what comes next
    step = next_step.next_step(body)
    if step is not None:
        memo.queue.offer(key, queue_priority(memo.settings, body, step), watched)


def queue_priority(settings: Any, body: dict, step: next_step.Step) -> tuple:
    """Severity counts as written only in an incident namespace (tenants cannot write there); archiving a
    finished Incident waits behind every Incident that needs analysis (scheduling.py)."""
    meta = body.get("metadata") or {}
    return scheduling.priority(body.get("spec"), meta,
                               trusted=tenancy.is_incident_namespace(meta.get("namespace") or "", settings),
                               housekeeping=step is next_step.Step.ARCHIVE)


def object_logger(memo: kopf.Memo, incident: dict) -> logging.LoggerAdapter:
    """Log lines that name the Incident (Kopf's `incident` key in JSON logs), as in a Kopf handler."""
    return kopf.LocalObjectLogger(body=kopf.Body(incident), settings=memo.kopf_settings)


MAX_STEPS = 5  # a run, then its report, its recovery note, its archive label: never a loop


def work(memo: kopf.Memo, key: scheduling.Key) -> scheduling.Done:
    """Do what the Incident needs next (next_step.py), read fresh, until nothing is left now; say when to
    come back (a retry, a rollout being waited on, a report owed)."""
    from kubernetes.client import ApiException
    store = IncidentStore(memo.kube, memo.writes)
    try:
        incident = store.get(*key)
    except ApiException as exc:
        if exc.status == 404:
            return scheduling.Done()  # deleted meanwhile
        raise
    logger = object_logger(memo, incident)
    for _ in range(MAX_STEPS):
        step = next_step.next_step(incident)
        if step is None:
            break
        try:
            incident, after = STEPS[step](memo, store, incident, logger)
        except pipeline.RetryLater as exc:
            logger.info("again in %.0fs: %s", exc.delay, exc)
            return scheduling.Done(exc.delay, next_step.watched(incident))
        if after is not None:
            return scheduling.Done(after, next_step.watched(incident))
    else:
        if (step := next_step.next_step(incident)) is not None:  # no progress in MAX_STEPS: come back, never drop it
            logger.warning("incident %s/%s still needs %s; again in %.0fs", *key, step.value, scheduling.RETRY_AFTER_ERROR)
            return scheduling.Done(scheduling.RETRY_AFTER_ERROR, next_step.watched(incident))
    return scheduling.Done(None, next_step.watched(incident))


StepResult = tuple[dict, "float | None"]  # the Incident as it is now, and when to come back (None: go on)


def _context(memo: kopf.Memo, incident: dict, logger: Any):
    return build_context(memo.kube, memo.settings, incident, logger, memo.deps)


def run_pipeline(memo: kopf.Memo, store: IncidentStore, incident: dict, logger: Any) -> StepResult:
    ctx = _context(memo, incident, logger)
    phase = pipeline.run(ctx)
    if phase in FINISHED_PHASES:
        logger.info("incident %s/%s finished: %s", ctx.namespace, ctx.name, phase)
    return ctx.incident, None


def rerun(memo: kopf.Memo, store: IncidentStore, incident: dict, logger: Any) -> StepResult:
    """`incident-operator rerun NAME` (or `kubectl annotate inc NAME netaiops.io/rerun=$(date +%s) --overwrite`
    on an Incident not archived yet): analyse again, keeping the last run in `previousRuns`."""
    ctx = _context(memo, incident, logger)
    pipeline.restart(ctx, str(ctx.annotations[ANN_RERUN]))
    return run_pipeline(memo, store, ctx.incident, logger)


def note_recovery(memo: kopf.Memo, store: IncidentStore, incident: dict, logger: Any) -> StepResult:
    """The alarm went back to OK after the analysis: note it on the report and close it."""
    ctx = _context(memo, incident, logger)
    status = ctx.status
    ctx.patch_status({"outcome": status.get("outcome") if status.get("outcome") == "remediated" else "recovered"})
    outbox.deliver(ctx, [{"op": "comment", "key": "recovered"}, {"op": "close", "title": "# 알람 정상화"}])
    if status.get("phase") == NEEDS_ACTION:  # the alarm is back to OK: the incident is over
        pipeline.finish(ctx)
    return ctx.incident, None


def deliver_report(memo: kopf.Memo, store: IncidentStore, incident: dict, logger: Any) -> StepResult:
    """What the report still owes, once the Incident is finished (while it runs, each phase delivers)."""
    wait = outbox.seconds_until_due(incident.get("status") or {})
    if wait > 0:
        return _labelled_meanwhile(store, incident), wait
    ctx = _context(memo, incident, logger)
    report = outbox.deliver(ctx)
    if outbox.owes(report):
        return ctx.incident, max(1.0, outbox.seconds_until_due(ctx.status))
    logger.info("report for %s/%s delivered", ctx.namespace, ctx.name)
    return ctx.incident, None


def _labelled_meanwhile(store: IncidentStore, incident: dict) -> dict:
    """A finished Incident that still owes something later (a report, a fix's check): labelled by cause now,
    not archived, so later Incidents find it meanwhile."""
    if watching.labels_to_write(incident, archive=False):
        return _labelled(store, incident, archive=False)
    return incident


def _labelled(store: IncidentStore, incident: dict, archive: bool = True) -> dict:
    """Write the finished Incident's labels, only on the version we decided on (a 409: read it again)."""
    from kubernetes.client import ApiException
    meta = incident["metadata"]
    labels = watching.labels_to_write(incident, archive=archive)
    try:
        stored = store.patch(meta["namespace"], meta["name"],
                             {"metadata": {"labels": labels, "resourceVersion": meta.get("resourceVersion")}})
    except ApiException as exc:
        if exc.status != 409:
            raise
        return store.get(meta["namespace"], meta["name"])  # changed since: decide again on what it is now
    if watching.is_archived((stored.get("metadata") or {}).get("labels")) and next_step.next_step(stored) is not None:
        # the version we held was newer than its spec or annotations in memory (a run takes the version its
        # own writes return): a recovery or a re-run came meanwhile. Back in view, so nothing owed is lost.
        stored = store.patch(meta["namespace"], meta["name"], watching.unarchive_patch())
    return stored


def archive(memo: kopf.Memo, store: IncidentStore, incident: dict, logger: Any) -> StepResult:
    return _labelled(store, incident), None


def assess_fix(memo: kopf.Memo, store: IncidentStore, incident: dict, logger: Any) -> StepResult:
    """Some minutes after a verified fix resolved it: did the fix hold? (phases/assess.py)"""
    from .models.spec import IncidentSpec
    from .phases import assess
    wait = assess.seconds_until_due(incident.get("status") or {})
    if wait > 0:
        return _labelled_meanwhile(store, incident), wait
    ctx = _context(memo, incident, logger)
    ctx.spec = IncidentSpec.model_validate(incident.get("spec") or {})
    assess.run(ctx)
    return ctx.incident, None


@kopf.on.event(GROUP, VERSION, "incidentapprovals")
async def approval_event(event: Any, memo: kopf.Memo, **_: Any) -> None:
    """A person decided (IncidentApproval created): look at its Incident now instead of at its next poll."""
    body = event.get("object") or {}
    if event.get("type") == "DELETED" or not memo.get("queue"):
        return
    namespace = (body.get("metadata") or {}).get("namespace")
    incident = (body.get("spec") or {}).get("incident")
    if namespace and incident:
        memo.queue.wake((namespace, incident), scheduling.priority({}, {}))


STEPS = {next_step.Step.RUN: run_pipeline, next_step.Step.RERUN: rerun, next_step.Step.RECOVER: note_recovery,
         next_step.Step.DELIVER: deliver_report, next_step.Step.ASSESS: assess_fix, next_step.Step.ARCHIVE: archive}


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
