"""A Job (or a CronJob's run) that gave up: condition Failed (BackoffLimitExceeded, DeadlineExceeded), with
the reason its pods gave — their last log lines and termination messages."""

from __future__ import annotations

from ..models.diagnosis import Cause, EvidenceItem, ResourceRef
from ..models.evidence import EvidenceBundle
from .base import Analyzer, event_item, events_matching
from .crashloop import ERROR_LINE


class JobFailedAnalyzer(Analyzer):
    kind = "job-failed"
    title = "Job 실패"

    def analyze(self, bundle: EvidenceBundle) -> list[Cause]:
        causes = []
        for job in bundle.cluster.jobs:
            failed = next((c for c in job.conditions if c.type == "Failed" and c.status == "True"), None)
            if not failed and not (job.backoff_limit is not None and job.failed > job.backoff_limit):
                continue
            ref = ResourceRef(kind="CronJob" if job.cronjob else "Job", name=job.cronjob or job.name, namespace=job.namespace)
            pods = [p for p in bundle.cluster.pods if p.owner_kind == "Job" and p.owner_name == job.name]
            lines = [l.strip() for p in pods for l in (p.log_tail or "").splitlines() if l.strip()]
            lines += [c.termination_message for p in pods for c in p.containers if c.termination_message]
            reason = next((l for l in reversed(lines) if ERROR_LINE.search(l)), lines[-1] if lines else None)
            exit_codes = sorted({c.last_exit_code for p in pods for c in p.containers if c.last_exit_code not in (None, 0)})
            evidence = [EvidenceItem(source="cluster", text=f"Job `{job.name}` 실패 {job.failed}회 (backoffLimit {job.backoff_limit}), "
                                                             f"조건 {failed.reason if failed else '?'}: {(failed.message if failed else '') or ''}",
                                     ref=f"Job/{job.namespace}/{job.name}")]
            if exit_codes:
                evidence.append(EvidenceItem(source="cluster", text=f"파드 종료 코드: {', '.join(map(str, exit_codes))}"))
            if reason:
                evidence.append(EvidenceItem(source="cluster", text=f"마지막 로그: {reason[:300]}"))
            evidence += [event_item(e) for e in events_matching(bundle, {"BackoffLimitExceeded", "DeadlineExceeded"})
                         if e.object_name == job.name][:1]
            run = f"CronJob `{job.cronjob}`의 실행 `{job.name}`" if job.cronjob else f"Job `{job.name}`"
            causes.append(Cause(
                kind=self.kind, title=f"{run}이(가) {failed.reason if failed else '재시도 한도 초과'}로 실패" + (f": {reason[:120]}" if reason else ""),
                confidence=0.95 if reason else 0.85, resource=ref, evidence=evidence,
                immediate_actions=[f"`kubectl logs job/{job.name} -n {job.namespace}`로 실패 원인 확인",
                                   "원인 수정 후 Job 재실행 (`kubectl create job --from=cronjob/...`)"],
                long_term=["Job 실패 알람(kube_job_status_failed)", "backoffLimit·activeDeadlineSeconds를 작업 특성에 맞게 설정"],
            ))
        return causes
