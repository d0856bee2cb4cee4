#!/usr/bin/env python3
"""`make record-scenarios`: reproduce every kubelet-side fault of local_stack.faults for real on the local real
node, let the operator (as users run it, with CloudWatch fed by the local Container Insights agent) collect and
answer each, and save the evidence it collected as scenarios/recorded/<fault>/ (bundle.json + recorded.yaml).

The expected answer written is the fault's own kind (the recipe's, not what the operator answered), so a
recording made while an analyzer is wrong fails `make scenarios` instead of enshrining the miss. A fault the
kubelet did not show in time, or whose Incident answered another kind, is reported and not written."""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

import yaml  # noqa: E402
from kubernetes import client  # noqa: E402

from incident_operator.kube.client import Kube  # noqa: E402
from incident_operator.scenarios.recorded import BUNDLE, META  # noqa: E402
from local_stack import faults as F  # noqa: E402
from local_stack.aws import LocalAws  # noqa: E402
from local_stack.cluster import wait_for  # noqa: E402
from local_stack.stack import local_cluster  # noqa: E402
from local_stack.container_insights import Publisher  # noqa: E402
from local_stack.fault_run import run_faults  # noqa: E402
from local_stack.real_node import NODE_NAME  # noqa: E402
from local_stack.workloads import incident  # noqa: E402

OUT = ROOT / "scenarios" / "recorded"
CLUSTER = "local"


def versions(kube: Kube) -> str:
    info = kube.core.read_node(NODE_NAME).status.node_info
    return f"kubelet {info.kubelet_version}, {info.container_runtime_version}, kernel {info.kernel_version}"


def main(only: list[str]) -> int:
    kubeconfig, kube = local_cluster()
    catalogue = [f for f in F.catalogue() if not only or f.name in only]
    ns = f"rec-{uuid.uuid4().hex[:6]}"
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    wait_for(lambda: kube.core.read_namespaced_service_account("default", ns), 30, "default ServiceAccount")
    aws = LocalAws()
    agent = Publisher(kube.core.api_client, aws.client("cloudwatch"), cluster=CLUSTER, interval=5).start()
    env = {"KUBECONFIG": kubeconfig, "INCIDENT_AWS_ENDPOINT_URL": aws.endpoint, "INCIDENT_AWS_REGION": "ap-northeast-2",
           "INCIDENT_CLUSTER_NAME": CLUSTER, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    log = ROOT / ".local" / "logs" / "record-scenarios.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        run = run_faults(kube, ns, aws.client("cloudwatch"), CLUSTER, env, log, incident, catalogue, agent=agent)
        produced = (f"hack/record-scenarios.py on the local real node ({versions(kube)}), "
                    f"{datetime.now(timezone.utc):%Y-%m-%d}: the operator's own evidence for an Incident filed once "
                    f"the kubelet showed the fault")
    finally:
        agent.stop()
        aws.stop()
        kube.core.delete_namespace(ns)
    written, skipped = [], {name: "the kubelet never showed it within 150 s" for name in run.missing}
    for name, (f, st) in sorted(run.results.items()):
        kinds = [c["kind"] for c in st.get("causes") or []]
        bundle = run.bundles.get(name)
        if bundle is None:
            skipped[name] = "no stored evidence"
            continue
        if not kinds or kinds[0] != f.kind:
            skipped[name] = f"answered {kinds[:3]}, the recipe is {f.kind}: fix the analyzer, then record again"
            continue
        # the fix the top cause proposes (the respond phase's policy and the live objects decide whether it runs:
        # not replayable, so the proposal is what a recording can hold the analyzer to)
        proposed = ((st["causes"][0].get("remediation") or {}).get("action")) or "none"
        acted = next((a["action"] for a in st.get("actions") or [] if a.get("state") == "succeeded"), "none")
        meta = {"name": name, "fault": name, "source": f.source, "produced": produced,
                "expected": {"topCause": f.kind, "alternatives": [], "remediation": proposed},
                "recordedAnswer": {"phase": st.get("phase"), "causes": kinds[:3], "acted": acted}}
        target = OUT / name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        (target / BUNDLE).write_text(json.dumps(json.loads(bundle.model_dump_json(by_alias=True, exclude_none=True)),
                                                ensure_ascii=False, indent=1, sort_keys=True) + "\n")
        (target / META).write_text(yaml.safe_dump(meta, allow_unicode=True, sort_keys=False))
        written.append(name)
    print(f"recorded {len(written)}: {', '.join(written)}")
    for name, why in sorted(skipped.items()):
        print(f"not recorded {name}: {why}")
    return 0 if not skipped else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
