"""Approval, undo and effectiveness decisions as pure functions (remediation/approval.py): table tests, no cluster."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from incident_operator import next_step, watching
from incident_operator.constants import LABEL_FIX, LABEL_FIX_RESULT
from incident_operator.remediation.approval import (Observation, alarm_says, approval_name, assess, effective_mode, fix_line,
                                                    judge, plan_hash, rank_fixes)
from incident_operator.report import render
from incident_operator.tools.cloudwatch import AlarmNow

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)


def pol(name, default=None, actions=None, timeout=None):
    spec = {k: v for k, v in {"default": default, "actions": actions, "approvalTimeoutSeconds": timeout}.items() if v}
    return {"metadata": {"name": name}, "spec": spec}


@pytest.mark.parametrize("incident, cluster, cluster_actions, policies, want", [
    ("auto", "auto", {}, [], "auto"),
    ("approve", "auto", {}, [], "approve"),                                   # the Incident asks for approval
    ("auto", "approve", {}, [], "approve"),                                   # the cluster default
    ("auto", "auto", {"restore-replicas": "approve"}, [], "approve"),         # the cluster, per action
    ("auto", "approve", {"restore-replicas": "auto"}, [], "auto"),            # the cluster's own per-action exception
    ("auto", "auto", {}, [pol("p", default="approve")], "approve"),           # a namespace tightens
    ("auto", "auto", {}, [pol("p", actions={"restore-replicas": "never"})], "off"),
    ("auto", "auto", {}, [pol("p", actions={"rollback-image": "never"})], "auto"),  # another action's rule
    ("auto", "approve", {}, [pol("p", default="auto")], "approve"),           # a namespace cannot loosen
    ("auto", "never", {}, [pol("p", default="auto")], "off"),
    ("dry-run", "approve", {}, [], "dry-run"),                                # the Incident's stricter option stays
    ("approve", "auto", {}, [pol("a", default="auto"), pol("b", default="approve")], "approve"),  # strictest object wins
    ("off", "auto", {}, [], "off"),
])
def test_effective_mode_is_the_strictest(incident, cluster, cluster_actions, policies, want):
    m = effective_mode("restore-replicas", incident, cluster, cluster_actions, policies, 3600)
    assert m.mode == want, m.why


def test_a_namespace_may_only_shorten_the_approval_window():
    assert effective_mode("x", "approve", "auto", {}, [pol("p", timeout=60)], 3600).timeout == 60
    assert effective_mode("x", "approve", "auto", {}, [pol("p", timeout=99999)], 3600).timeout == 3600


def test_plan_hash_moves_with_the_target_and_the_change():
    change = [{"object": "Deployment/a/web", "field": "spec.replicas", "before": "0", "after": "2"}]
    h = plan_hash("restore-replicas:Deployment/a/web", change, ["Deployment/a/web uid=1 generation=3"])
    assert h == plan_hash("restore-replicas:Deployment/a/web", change, ["Deployment/a/web uid=1 generation=3"])
    assert h != plan_hash("restore-replicas:Deployment/a/web", change, ["Deployment/a/web uid=1 generation=4"])
    assert h != plan_hash("restore-replicas:Deployment/a/web", [{**change[0], "after": "3"}], ["Deployment/a/web uid=1 generation=3"])
    assert len(h) == 16 and int(h, 16) >= 0
    name = approval_name("x" * 253, h)
    assert len(name) <= 253 and name.endswith(h)


def approval(decision="approve", by="alice", plan="abcdef0123456789", incident="inc", created=NOW):
    return {"metadata": {"name": f"{incident}-{plan}", "creationTimestamp": created.isoformat()},
            "spec": {"incident": incident, "plan": plan, "decision": decision, "approvedBy": by}}


SINCE = NOW - timedelta(hours=1)
LATER = (NOW + timedelta(minutes=30)).isoformat()


@pytest.mark.parametrize("obj, expires, since, want", [
    (None, LATER, SINCE, "wait"),
    (None, (NOW - timedelta(seconds=1)).isoformat(), SINCE, "expired"),
    (approval(), LATER, SINCE, "approved"),
    (approval("deny"), LATER, SINCE, "denied"),
    (approval(), LATER, None, "untrusted"),                         # no admission policy: the name is nobody's word
    (approval(created=SINCE - timedelta(seconds=5)), LATER, SINCE, "untrusted"),  # made before the policy was in force
    (approval(plan="0000000000000000"), LATER, SINCE, "untrusted"),  # another plan
    (approval(incident="other"), LATER, SINCE, "untrusted"),
    (approval(created=NOW - timedelta(seconds=5)), (NOW - timedelta(seconds=1)).isoformat(), SINCE, "approved"),  # in time
    (approval(), (NOW - timedelta(seconds=1)).isoformat(), SINCE, "expired"),  # decided after the plan expired
])
def test_judge(obj, expires, since, want):
    v = judge(obj, "inc", "abcdef0123456789", NOW, expires, since)
    assert v.kind == want, v.message
    if want in ("approved", "denied"):
        assert v.by == "alice" and "alice" in v.message


@pytest.mark.parametrize("baseline, obs, want, says", [
    ({"restarts": 0}, Observation(True, "준비 2/2", 0), "held", "새 재시작 없음"),
    ({"restarts": 0}, Observation(True, "준비 2/2", 3), "regressed", "재시작 3회"),
    ({"restarts": 1}, Observation(False, "spec.replicas 0 (기대: 2)", 1), "regressed", "다시 비정상"),
    ({}, Observation(True, "부하 생성 파드 모두 종료", None, ["ns/again"]), "regressed", "ns/again"),
    ({}, Observation(True, "부하 생성 파드 모두 종료"), "held", "새 인시던트 없음"),
])
def test_assess(baseline, obs, want, says):
    result, evidence = assess(baseline, obs)
    assert result == want and any(says in e for e in evidence), evidence


AT = datetime(2026, 12, 6, 12, 5, tzinfo=timezone.utc)
FIRING = AlarmNow(name="cpu", state="ALARM", reason="Threshold Crossed: 1 datapoint [97.0] > 80.0", updated=AT)
CALM = AlarmNow(name="cpu", state="OK", reason="Threshold Crossed: 1 datapoint [12.0] < 80.0", updated=AT)
NO_DATA = AlarmNow(name="cpu", state="INSUFFICIENT_DATA", reason="Insufficient Data: 1 datapoint was unknown.", updated=AT)
GONE = AlarmNow(name="cpu", problem="CloudWatch에 이 이름의 메트릭 알람이 없음")
DOWN = AlarmNow(name="cpu", problem="CloudWatch에 물을 수 없음: EndpointConnectionError")
OK_NOW = dict(healthy=True, seen="준비 2/2", restarts=0)


@pytest.mark.parametrize("obs, want, says", [
    # the alarm decides when it answers ALARM, with its state, reason and time as the evidence
    (Observation(**OK_NOW, alarm=FIRING), "regressed", "지금 ALARM — Threshold Crossed: 1 datapoint [97.0] > 80.0 (상태 갱신 2026-12-06T12:05:00Z)"),
    (Observation(**OK_NOW, alarm=CALM), "held", "지금도 OK — Threshold Crossed"),
    # no new Incident would have shown this: the alarm never left ALARM, so the bridge opened none
    (Observation(**OK_NOW, refires=[], alarm=FIRING), "regressed", "알람 cpu"),
    # OK, but the target is unhealthy again: the other evidence still counts
    (Observation(False, "spec.replicas 0 (기대: 2)", 0, alarm=CALM), "regressed", "다시 비정상"),
    # it cannot confirm: said so, and the restarts and readiness decide
    (Observation(**OK_NOW, alarm=NO_DATA), "held", "확인할 수 없음: 지금 INSUFFICIENT_DATA"),
    (Observation(True, "준비 2/2", 4, alarm=NO_DATA), "regressed", "재시작 4회"),
    (Observation(**OK_NOW, alarm=GONE), "held", "알람 cpu(으)로 확인할 수 없음: CloudWatch에 이 이름의 메트릭 알람이 없음"),
    (Observation(**OK_NOW, alarm=DOWN), "held", "EndpointConnectionError; 재시작·준비 상태로 판단"),
    (Observation(False, "준비 0/2", 0, alarm=DOWN), "regressed", "다시 비정상"),
    # a multi-time-series alarm in ALARM may be another contributor's: not this target's regression by itself
    (Observation(**OK_NOW, alarm=FIRING, per_contributor=True), "held", "여러 시계열(기여자)의 알람이라"),
    # an Incident not from a CloudWatch alarm (Alertmanager, by hand): today's evidence only, no alarm line
    (Observation(**OK_NOW), "held", "새 재시작 없음"),
])
def test_assess_with_the_alarm_state(obs, want, says):
    result, evidence = assess({"restarts": 0}, obs)
    assert result == want and any(says in e for e in evidence), evidence
    assert any(e.startswith("알람 cpu") for e in evidence) == (obs.alarm is not None)


@pytest.mark.parametrize("alarm, decided", [(FIRING, False), (CALM, True), (NO_DATA, None), (GONE, None), (DOWN, None)])
def test_alarm_says(alarm, decided):
    assert alarm_says(alarm)[0] is decided


def labelled(action, result):
    return {"metadata": {"labels": {LABEL_FIX: action, LABEL_FIX_RESULT: result}}}


def test_rank_fixes_by_how_often_they_held():
    items = [labelled("rollback-image", "held")] * 3 + [labelled("restore-replicas", "held"), labelled("restore-replicas", "regressed"),
                                                        {"metadata": {"labels": {}}}, labelled("x", "pending")]
    ranked = rank_fixes(items, LABEL_FIX, LABEL_FIX_RESULT, "checkout")
    assert [(f["action"], f["held"], f["total"]) for f in ranked] == [("rollback-image", 3, 3), ("restore-replicas", 1, 2)]
    assert "held 3 of 3" in fix_line(ranked[0]) and "`checkout`" in fix_line(ranked[0])
    md = render.causes_section({"causes": [{"kind": "bad-rollout", "title": "t", "confidence": 0.9}], "pastFixes": ranked})
    assert any("held 3 of 3" in line and "`checkout`" in line for line in md)


def test_effectiveness_pending_keeps_the_incident_in_view():
    status = {"phase": "Resolved", "report": {"comments": [], "closed": True},
              "effectiveness": {"state": "pending", "checkAt": LATER}}
    body = {"metadata": {"labels": {}}, "status": status}
    assert next_step.next_step(body) is next_step.Step.ASSESS and not watching.archivable(status)
    status["effectiveness"]["state"] = "held"
    assert next_step.next_step(body) is next_step.Step.ARCHIVE and watching.archivable(status)


def test_the_report_shows_the_plan_the_approver_and_the_undo_escaped():
    status = {"actions": [{"id": "restore-replicas:Deployment/a/web", "action": "restore-replicas", "target": "Deployment/a/web",
                           "state": "unverified", "planHash": "abcdef0123456789", "decidedBy": "alice`](http://x)",
                           "plan": [{"object": "Deployment/a/web", "field": "spec.replicas", "before": "0", "after": "2"}],
                           "undo": "레플리카를 조치 전 값(0)으로 되돌림", "undoState": "verified"}],
              "effectiveness": {"state": "regressed", "action": "x", "evidence": ["다시 비정상: @everyone"]}}
    md = render.full_report("inc", {}, status)
    assert "`Deployment/a/web` `spec.replicas`: `0` → `2`" in md
    assert "- 되돌림 (되돌림 확인됨): " in md and "다시 악화" in md
    assert "- 승인: ``alice`](http://x)`` (" in md  # the approver's name as code: no link
    comment = render.approval_comment(status, {})
    assert "incident-operator approve" in comment and "`spec.replicas`" in comment
    waiting = {"actions": [{**status["actions"][0], "state": "awaiting-approval", "target": "Deployment/a/`web`](http://x)"}]}
    comment = render.approval_comment(waiting, {}, ("a", "inc"))
    assert "→ ``Deployment/a/`web`](http://x)``" in comment  # a value as code: no link
    assert ("  - 승인: `incident-operator approve inc -n a --plan abcdef0123456789` · "
            "거부: `incident-operator deny inc -n a --plan abcdef0123456789`") in comment


@pytest.mark.parametrize("namespace, spec, labels, asks", [
    ("incident-operator", {"source": "alarm", "alarm": {"name": "cpu"}}, {}, True),          # the bridge's
    ("incident-operator", {"source": "alarm", "alarm": {"name": "HighCPU", "metric": {"namespace": "Prometheus/Alertmanager"}}},
     {}, False),                                                                                # Alertmanager's (webhook)
    ("incident-operator", {"source": "alarm", "alarm": {"name": "HighCPU"}},
     {"app.kubernetes.io/created-by": "incident-webhook"}, False),
    ("incident-operator", {"source": "manual", "target": {"namespace": "shop"}}, {}, False),  # opened by hand
    ("shop", {"source": "alarm", "alarm": {"name": "other-teams-alarm"}}, {}, False),         # a tenant's own words
])
def test_which_incidents_ask_cloudwatch_for_their_alarm(namespace, spec, labels, asks):
    from types import SimpleNamespace

    from incident_operator.models.spec import IncidentSpec
    from incident_operator.phases.assess import cloudwatch_alarm
    from incident_operator.settings import Settings
    ctx = SimpleNamespace(spec=IncidentSpec.model_validate(spec), namespace=namespace, settings=Settings(),
                          incident={"metadata": {"namespace": namespace, "labels": labels}, "spec": spec})
    assert (cloudwatch_alarm(ctx) is not None) == asks


def test_pending_approvals_gauge_reads_when_scraped_caches_and_only_the_leader_reports():
    from prometheus_client import CollectorRegistry, generate_latest

    from incident_operator.metrics import PendingApprovals
    now, answers, leading = [0.0], [2, RuntimeError("API server down"), 5], [True]

    def count():
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a
    reg = CollectorRegistry()
    reg.register(PendingApprovals(count, lambda: leading[0], ttl=10, clock=lambda: now[0]))
    scrape = lambda: generate_latest(reg).decode()  # noqa: E731
    assert "incident_operator_approvals_pending 2.0" in scrape()
    now[0] = 5
    assert "incident_operator_approvals_pending 2.0" in scrape() and len(answers) == 2  # cached: not asked again
    now[0] = 11
    assert "incident_operator_approvals_pending 2.0" in scrape()  # the count failed: the last one stands
    leading[0] = False
    assert "incident_operator_approvals_pending" not in scrape()  # a standby: no sample at all
    leading[0], now[0] = True, 22
    assert "incident_operator_approvals_pending 5.0" in scrape()
