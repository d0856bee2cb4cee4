"""Fair under storms: worker slots go to the most severe Incident first, then the oldest."""

from __future__ import annotations

import asyncio

from incident_operator.scheduling import PriorityGate, priority

from .support.workloads import incident


def test_a_critical_incident_overtakes_the_queue():
    order: list[str] = []

    async def work(gate: PriorityGate, name: str, prio, hold: asyncio.Event | None = None) -> None:
        async with gate.slot(prio):
            order.append(name)
            if hold:
                await hold.wait()

    async def main() -> None:
        gate, hold = PriorityGate(1), asyncio.Event()
        first = asyncio.create_task(work(gate, "running", priority({"severity": "low"}, {}), hold))
        await asyncio.sleep(0)
        queued = [asyncio.create_task(work(gate, f"low-{i}", priority({"severity": "low"}, {"creationTimestamp": f"2026-11-25T10:00:0{i}Z"})))
                  for i in range(3)]
        queued.append(asyncio.create_task(work(gate, "medium", priority({"severity": "medium"}, {"creationTimestamp": "2026-11-25T09:00:00Z"}))))
        queued.append(asyncio.create_task(work(gate, "critical", priority({"severity": "critical"}, {"creationTimestamp": "2026-11-25T11:00:00Z"}))))
        cancelled = asyncio.create_task(work(gate, "gave-up", priority({"severity": "critical"}, {})))
        await asyncio.sleep(0)
        cancelled.cancel()  # a handler Kopf cancels while it waits loses its place and takes no slot
        assert gate.waiting == 5
        hold.set()
        await asyncio.gather(first, *queued)
        await asyncio.gather(cancelled, return_exceptions=True)
        assert gate.free == 1 and gate.waiting == 0
    asyncio.run(main())
    assert order == ["running", "critical", "medium", "low-0", "low-1", "low-2"]


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
