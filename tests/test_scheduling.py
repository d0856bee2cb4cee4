"""Fair under storms: worker slots go to the most severe Incident first, then the oldest."""

from __future__ import annotations

import asyncio

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from incident_operator.next_step import Step, next_step, watched
from incident_operator.peering import outranked
from incident_operator.scheduling import Done, WorkQueue, priority

from local_stack.workloads import incident


def _run_queue(work, scenario, workers: int = 1) -> None:
    async def main() -> None:
        queue = WorkQueue(workers, work, ThreadPoolExecutor(workers))
        queue.start()
        try:
            await scenario(queue)
        finally:
            await queue.stop()
    asyncio.run(main())


async def _until(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_critical_incident_overtakes_the_queue():
    order: list[str] = []
    hold = threading.Event()

    def work(key):
        order.append(key[1])
        if key[1] == "running":
            hold.wait(5)
        return Done()

    async def scenario(queue: WorkQueue) -> None:
        queue.offer(("ns", "running"), priority({"severity": "low"}, {}))
        await _until(lambda: order == ["running"])
        for i in range(3):
            queue.offer(("ns", f"low-{i}"), priority({"severity": "low"}, {"creationTimestamp": f"2026-11-25T10:00:0{i}Z"}))
        queue.offer(("ns", "low-1"), priority({"severity": "low"}, {"creationTimestamp": "2026-11-25T10:00:01Z"}))  # again
        queue.offer(("ns", "medium"), priority({"severity": "medium"}, {"creationTimestamp": "2026-11-25T09:00:00Z"}))
        queue.offer(("ns", "critical"), priority({"severity": "critical"}, {"creationTimestamp": "2026-11-25T11:00:00Z"}))
        queue.offer(("ns", "gone"), priority({"severity": "critical"}, {}))
        queue.cancel(("ns", "gone"))  # deleted while it waited: never worked on
        queue.offer(("ns", "running"), priority({"severity": "critical"}, {}))  # an event for the running one
        assert queue.waiting == 5  # one entry per Incident, however many events
        hold.set()
        await _until(lambda: len(order) == 6)
        await asyncio.sleep(0.05)
    _run_queue(work, scenario)
    assert order == ["running", "critical", "medium", "low-0", "low-1", "low-2"]


def test_a_change_asked_for_while_running_is_looked_at_again_and_retries_come_back():
    runs: list[str] = []
    holds = [threading.Event(), threading.Event()]

    def work(key):
        runs.append(key[1])
        n = runs.count(key[1])
        if key[1] == "busy" and n <= 2:
            holds[n - 1].wait(5)
            return Done(watched=("token-0", None, "None"))
        if key[1] == "retry" and n == 1:
            return Done(after=0.05)  # e.g. a rollout being waited on
        return Done()

    async def scenario(queue: WorkQueue) -> None:
        queue.offer(("ns", "busy"), (1, ""))
        await _until(lambda: runs == ["busy"])
        assert queue.seen(("ns", "busy"), ("token-0", None, "None"))  # nothing new asked: no second look
        queue.offer(("ns", "quiet"), (1, ""))
        holds[0].set()
        await _until(lambda: runs == ["busy", "quiet"])
        await asyncio.sleep(0.05)
        assert runs == ["busy", "quiet"]
        queue.offer(("ns", "busy"), (1, ""))
        await _until(lambda: runs.count("busy") == 2)
        assert queue.seen(("ns", "busy"), ("token-1", None, "None"))  # a re-run asked while it ran
        holds[1].set()
        await _until(lambda: runs.count("busy") == 3)  # looked at again at once
        queue.offer(("ns", "retry"), (1, ""))
        await _until(lambda: queue.delayed == 1)
        queue.offer(("ns", "retry"), (1, ""))  # an event while it waits out its delay does not shorten it
        assert queue.waiting == 0 and queue.delayed == 1
        await _until(lambda: runs.count("retry") == 2)
        await asyncio.sleep(0.1)
        assert runs.count("retry") == 2 and queue.waiting == 0 and queue.delayed == 0
    _run_queue(work, scenario)


def test_every_worker_keeps_working_when_they_race_for_the_last_entry():
    """Workers that found the queue non-empty at once, while they asked whether to pause (a thread hop), must
    not take from an emptied queue (a worker died of it: only two of four kept working)."""
    done: list[str] = []

    def work(key):
        time.sleep(0.01)
        done.append(key[1])
        return Done()

    async def scenario(queue: WorkQueue) -> None:
        for round_ in range(20):
            queue.offer(("ns", f"r{round_}"), (1, ""))  # one entry, four idle workers wake for it
            await asyncio.sleep(0.005)
        await _until(lambda: len(done) == 20)
        assert all(not t.done() for t in queue._tasks)  # no worker died
        for i in range(8):
            queue.offer(("ns", f"b{i}"), (1, ""))
        await _until(lambda: len(done) == 28)
        assert all(not t.done() for t in queue._tasks)
    _run_queue(work, scenario, workers=4)


def test_a_failing_piece_of_work_is_retried_not_lost(monkeypatch):
    from incident_operator import scheduling
    monkeypatch.setattr(scheduling, "RETRY_AFTER_ERROR", 0.05)
    runs: list[int] = []

    def work(key):
        runs.append(1)
        if len(runs) == 1:
            raise ConnectionError("API server unreachable")
        return Done()

    async def scenario(queue: WorkQueue) -> None:
        queue.offer(("ns", "flaky"), (1, ""))
        await _until(lambda: len(runs) == 2)
    _run_queue(work, scenario)


def _body(phase=None, annotations=None, labels=None, **status):
    return {"metadata": {"annotations": annotations or {}, "labels": labels or {}},
            "spec": status.pop("spec", {}), "status": {**({"phase": phase} if phase else {}), **status}}


ARCHIVED = {"netaiops.io/archived": "true"}
OWED = {"ref": {"number": 1}, "outbox": [{"op": "comment", "key": "analysis"}]}
RECOVERED = {"recovery": {"recoveredAt": "2026-12-04T10:00:00Z"}}


@pytest.mark.parametrize("body,step", [
    (_body(), Step.RUN),  # new
    (_body("Collecting"), Step.RUN),  # resumed after a restart
    (_body(annotations={"netaiops.io/silenced": "true"}), Step.RUN),  # records that it is silenced
    (_body(annotations={"netaiops.io/silenced": "true"}, silenced=True), None),  # waits for the annotation to go
    (_body(silenced=True), Step.RUN),  # un-silenced
    (_body(annotations={"netaiops.io/rerun": "1"}), Step.RERUN),
    (_body("Diagnosing", annotations={"netaiops.io/rerun": "1"}), Step.RUN),  # the current run first
    (_body("NeedsAction", annotations={"netaiops.io/rerun": "1"}, labels=ARCHIVED), Step.RERUN),
    (_body("NeedsAction", annotations={"netaiops.io/rerun": "1"}, labels=ARCHIVED, rerunToken="1"), None),
    (_body("NeedsAction", spec=RECOVERED, report={"ref": {"number": 1}, "closed": False}), Step.RECOVER),
    (_body("NeedsAction", spec=RECOVERED, report={"ref": {"number": 1}, "closed": True}), Step.ARCHIVE),
    (_body("Resolved", spec=RECOVERED, report={"ref": {"number": 1}, "outbox": [{"op": "close"}]}), Step.DELIVER),
    (_body("Resolved", spec=RECOVERED), Step.ARCHIVE),  # no report to note it on
    (_body("NeedsAction", spec=RECOVERED, report={"ref": {"number": 1}, "failed": True}), Step.ARCHIVE),  # refused for good
    (_body("Failed", report=OWED), Step.DELIVER),
    (_body("Grouped"), Step.ARCHIVE),
    (_body("Resolved", labels=ARCHIVED), None),
])
def test_what_an_incident_needs_next(body, step):
    assert next_step(body) == step


def test_only_what_people_change_counts_as_a_new_request():
    body = _body("Collecting", annotations={"netaiops.io/rerun": "1", "netaiops.io/occurrences": "3"})
    bumped = _body("Diagnosing", annotations={"netaiops.io/rerun": "1", "netaiops.io/occurrences": "4"})
    assert watched(body) == watched(bumped)  # the bridge counting occurrences, the operator's own status
    assert watched(body) != watched(_body("Collecting", annotations={"netaiops.io/rerun": "2"}))
    assert watched(body) != watched(_body("Collecting", annotations={"netaiops.io/rerun": "1"}, spec=RECOVERED))


def test_a_replica_defers_to_live_peers_of_higher_or_equal_priority():
    from datetime import datetime, timedelta, timezone
    now = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
    seen = (now - timedelta(seconds=10)).isoformat()
    old = (now - timedelta(seconds=120)).isoformat()
    peers = {"me": {"priority": 10, "lifetime": 60, "lastseen": seen},
             "low": {"priority": 5, "lifetime": 60, "lastseen": seen},
             "high-dead": {"priority": 20, "lifetime": 60, "lastseen": old}}
    assert outranked(peers, "me", 10, now) == []
    assert outranked({**peers, "high": {"priority": 20, "lifetime": 60, "lastseen": seen}}, "me", 10, now) == ["high"]
    assert outranked({**peers, "twin": {"priority": 10, "lifetime": 60, "lastseen": seen}}, "me", 10, now) == ["twin"]


def test_the_operator_starts_the_critical_incident_before_the_queued_ones(kube, ns, incidents, start_operator):
    """Seven low-severity Incidents and then one critical wait while no operator runs; with one worker, the
    critical one is started first or second (only an Incident already holding the slot goes before it)."""
    names = [f"low-{i}" for i in range(7)]
    for n in names:
        incidents.create(incident(n, severity="low", target={"namespace": ns}))
    incidents.create(incident("urgent", severity="critical", target={"namespace": ns}))
    start_operator({"INCIDENT_WORKERS": "1"})
    started = {}
    for n in [*names, "urgent"]:
        st = incidents.wait_phase(n, ("Resolved", "NeedsAction", "Failed"), 120)["status"]
        started[n] = st["phases"]["Gathering"]["startedAt"]
    rank = sorted(started, key=started.get).index("urgent")
    assert rank <= 1, sorted(started.items(), key=lambda kv: kv[1])


def test_the_operator_remembers_its_own_writes_boundedly():
    from incident_operator.kube.incidents import WriteLog
    log = WriteLog(size=2, per_incident=2)
    obj = lambda name, rv: {"metadata": {"namespace": "ns", "name": name, "resourceVersion": rv}}  # noqa: E731
    for rv in ("1", "2", "3"):
        log.record(obj("a", rv))
    assert not log.ours("ns", "a", "1") and log.ours("ns", "a", "2") and log.ours("ns", "a", "3")
    assert not log.ours("ns", "a", "4") and not log.ours("ns", "a", None)  # someone else's write
    log.record(obj("b", "5"))
    log.record(obj("c", "6"))  # the oldest Incident goes
    assert not log.ours("ns", "a", "3") and log.ours("ns", "c", "6")
    log.forget("ns", "c")  # archived: nothing held for it
    assert not log.ours("ns", "c", "6")


def test_a_standby_replica_takes_nothing_until_it_leads(monkeypatch):
    from incident_operator import scheduling
    monkeypatch.setattr(scheduling, "PAUSE_POLL", 0.02)
    leads = threading.Event()
    done: list[str] = []

    def work(key):
        done.append(key[1])
        return Done()

    async def main() -> None:
        queue = WorkQueue(2, work, ThreadPoolExecutor(2), paused=lambda: not leads.is_set())
        queue.start()
        try:
            queue.offer(("ns", "a"), (1, ""))
            queue.offer(("ns", "b"), (0, ""))
            await asyncio.sleep(0.2)
            assert done == [] and queue.waiting == 2  # another replica leads: kept, not worked on
            leads.set()
            await _until(lambda: sorted(done) == ["a", "b"])
        finally:
            await queue.stop()
    asyncio.run(main())


def test_a_failure_after_a_write_backs_off_instead_of_looping(monkeypatch):
    """The work's own write reaches the watch while it runs; it then fails: that event is no new request, and
    failures in a row wait longer each time (a refused write is not retried in a hot loop)."""
    from incident_operator import scheduling
    monkeypatch.setattr(scheduling, "RETRY_AFTER_ERROR", 0.05)
    runs: list[float] = []

    async def scenario(queue: WorkQueue) -> None:
        loop = asyncio.get_running_loop()

        def work(key):
            runs.append(time.monotonic())
            loop.call_soon_threadsafe(queue.seen, key, ("1", None, "None"))  # the event of its own write
            time.sleep(0.02)
            raise RuntimeError("422 Unprocessable Entity")
        queue.work = work
        queue.offer(("ns", "refused"), (1, ""))
        await asyncio.sleep(0.5)
    _run_queue(lambda key: Done(), scenario)
    assert 2 <= len(runs) <= 5, len(runs)  # 0, 0.05, 0.15, 0.35 s: not dozens
    gaps = [b - a for a, b in zip(runs, runs[1:])]
    # each wait at least its doubled floor (a loaded machine only adds to a gap, so an order test was flaky)
    assert all(gap >= 0.05 * 2 ** i * 0.9 for i, gap in enumerate(gaps)), gaps


def test_a_new_request_cuts_a_delay_short():
    runs: list[str] = []

    def work(key):
        runs.append(key[1])
        return Done(after=30 if len(runs) == 1 else None, watched=("1", None, "None"))

    async def scenario(queue: WorkQueue) -> None:
        queue.offer(("ns", "waiting"), (1, ""))
        await _until(lambda: queue.delayed == 1)
        queue.offer(("ns", "waiting"), (1, ""), ("1", None, "None"))  # a bump: nothing asked
        assert queue.delayed == 1 and queue.waiting == 0
        queue.offer(("ns", "waiting"), (1, ""), ("2", None, "None"))  # a re-run asked: now, not in 30 s
        await _until(lambda: len(runs) == 2)
        assert queue.delayed == 0
    _run_queue(work, scenario)


def _drain(offers, workers: int = 1) -> list[tuple[str, str]]:
    """Queue every (key, priority) before a worker starts, then the order they are taken in (no clock)."""
    order: list[tuple[str, str]] = []

    def work(key):
        order.append(key)
        return Done()

    async def main() -> None:
        queue = WorkQueue(workers, work, ThreadPoolExecutor(workers))
        for key, prio in offers:
            queue.offer(key, prio)
        queue.start()
        try:
            await _until(lambda: len(order) == len(offers), timeout=60)
        finally:
            await queue.stop()
    asyncio.run(main())
    return order


def _at(i: int) -> dict:
    return {"creationTimestamp": f"2026-12-06T10:{i // 60:02d}:{i % 60:02d}Z"}


def test_one_tenants_storm_of_critical_incidents_delays_another_tenants_by_a_bounded_few():
    """Issue 23, finding 7: 500 "critical" Incidents from tenant A, then tenant B's critical one. B's is taken
    after at most one of A's (namespaces take turns within a severity); before, it waited for all 500."""
    storm = [(("tenant-a", f"a-{i}"), priority({"severity": "critical"}, _at(i))) for i in range(500)]
    order = _drain([*storm, (("tenant-b", "b"), priority({"severity": "critical"}, _at(600)))])
    assert order.index(("tenant-b", "b")) <= 1, order.index(("tenant-b", "b"))
    assert [k for k in order if k[0] == "tenant-a"] == [k for k, _ in storm]  # A's own stay oldest first


def test_a_tenants_declared_severity_is_capped_and_the_incident_namespaces_is_trusted():
    """A tenant writing `critical` counts as `high`: it neither jumps the incident namespace's critical alarm
    (the bridge's mapping, admins) nor another tenant's `high` Incident, which takes turns with it."""
    assert priority({"severity": "critical"}, {}) == priority({"severity": "high"}, {})
    assert priority({"severity": "low"}, {}) > priority({"severity": "critical"}, {})
    offers = [(("tenant-a", f"a-{i}"), priority({"severity": "critical"}, _at(i))) for i in range(50)]
    offers.append((("tenant-b", "b-high"), priority({"severity": "high"}, _at(100))))
    offers.append((("incident-operator", "alarm"), priority({"severity": "critical"}, _at(101), trusted=True)))
    order = _drain(offers)
    assert order[0] == ("incident-operator", "alarm")
    assert order.index(("tenant-b", "b-high")) <= 2


def test_the_handler_trusts_severity_only_in_an_incident_namespace():
    from incident_operator.handlers import queue_priority
    from incident_operator.settings import Settings

    cfg = Settings(incident_namespaces=["incident-operator", "ops-*"])
    body = lambda ns: {"metadata": {"namespace": ns, "name": "x"}, "spec": {"severity": "critical"}}  # noqa: E731
    assert queue_priority(cfg, body("incident-operator"), Step.RUN) < queue_priority(cfg, body("shop"), Step.RUN)
    assert queue_priority(cfg, body("ops-eu"), Step.RUN) == queue_priority(cfg, body("incident-operator"), Step.RUN)
    assert queue_priority(cfg, body("shop"), Step.RUN) == queue_priority(
        cfg, {**body("shop"), "spec": {"severity": "high"}}, Step.RUN)


def test_new_incidents_go_before_the_one_time_archiving_of_finished_ones():
    """Issue 23, item 9: on the first start after an upgrade every finished Incident needs its archive label; a new
    Incident (even a low one) is taken before them, not behind 2,000 of them."""
    from incident_operator.handlers import queue_priority
    from incident_operator.settings import Settings

    cfg = Settings()
    finished = [{"metadata": {"namespace": "incident-operator", "name": f"old-{i}", **_at(i % 3000)},
                 "spec": {"severity": "critical"}, "status": {"phase": "Resolved"}} for i in range(2000)]
    new = {"metadata": {"namespace": "shop", "name": "new", **_at(3599)}, "spec": {"severity": "low"}}
    assert all(next_step(b) is Step.ARCHIVE for b in finished[:3]) and next_step(new) is Step.RUN
    offers = [((b["metadata"]["namespace"], b["metadata"]["name"]), queue_priority(cfg, b, next_step(b))) for b in finished]
    order = _drain([*offers, (("shop", "new"), queue_priority(cfg, new, Step.RUN))], workers=1)
    assert order[0] == ("shop", "new")
