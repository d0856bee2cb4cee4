#!/usr/bin/env python3
"""`make scenarios`: the local stack (control plane, moto, OpenSearch, operator), every scenario
replayed through the bridge, then the accuracy table (top-1, top-3) and timings."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

from kubernetes import client, config  # noqa: E402

from local_stack.aws import LocalAws  # noqa: E402
from local_stack.cluster import ensure_cluster, install_crds  # noqa: E402
from local_stack.opensearch import LocalOpenSearch  # noqa: E402
from local_stack.stack import operator, stack_env  # noqa: E402


MAX_CALIBRATION_ERROR = 0.1


def calibration_error(results: list[dict], bins: int = 5) -> float | None:
    """Expected calibration error of the top cause: |mean confidence - accuracy| per confidence bin,
    weighted by the bin's share of scenarios. `unknown` is an abstention (no cause named), not a
    prediction with a probability: it counts in top-1 accuracy, not here. (`make eval` scores the same way.)"""
    from incident_operator.scenarios.evaluation import expected_calibration_error
    return expected_calibration_error([((r.get("got") or {}).get("confidence"), bool(r.get("top1"))) for r in results
                                       if (r.get("got") or {}).get("topCause") != "unknown"], bins)


def plausible_group(results: list[dict]) -> dict:
    """The cases built with two plausible causes (expected.yaml `plausible`): how often the true cause is first, and
    how often it is within the first three (the ranking offering it when the other one came first)."""
    group = [r for r in results if (r.get("expected") or {}).get("plausible")]
    return {"scenarios": len(group), "top1": sum(bool(r.get("top1")) for r in group),
            "top3": sum(bool(r.get("top3")) for r in group),
            "rescued": [r["scenario"] for r in group if r.get("top3") and not r.get("top1")]}


HEALTHY_MAX_CONFIDENCE = 0.5


def healthy_controls(results: list[dict]) -> tuple[dict[str, list[str]], list[str]]:
    """The healthy controls (expected `unknown`) by the Incident's target kind, and those where a cause was asserted
    above HEALTHY_MAX_CONFIDENCE (a healthy workload must get none)."""
    by_kind: dict[str, list[str]] = {}
    over = []
    for r in results:
        if (r.get("expected") or {}).get("topCause") != "unknown":
            continue
        got = r.get("got") or {}
        by_kind.setdefault(got.get("target") or "?", []).append(r["scenario"])
        named = [c for k, c in zip(got.get("causes") or [], got.get("causeConfidences") or [got.get("confidence")])
                 if k != "unknown" and isinstance(c, (int, float))]
        if named and max(named) > HEALTHY_MAX_CONFIDENCE:
            over.append(f"{r['scenario']} ({got.get('topCause')} {max(named):.2f})")
    return by_kind, over


def incomplete(results: list[dict], dirs: list[str], returncode: int | None) -> list[str]:
    """Why the replay cannot be trusted, if it cannot: it crashed (no exit code, or one without a failed
    scenario to explain it), or it answered for fewer scenarios than there are folders."""
    problems = []
    if returncode is None or returncode != 0 and all(r.get("pass") for r in results):
        problems.append(f"리플레이가 비정상 종료됨 (exit {returncode})")
    if len(results) < len(dirs):  # the replay answers in folder order: the missing ones are the last
        missing = ", ".join(Path(d).name for d in dirs[len(results):])
        problems.append(f"시나리오 {len(dirs)}개 중 {len(results)}개만 결과가 있음 (없음: {missing})")
    return problems


def main() -> int:
    kubeconfig, _ = ensure_cluster()
    os.environ["KUBECONFIG"] = kubeconfig
    config.load_kube_config(config_file=kubeconfig)
    install_crds(client.ApiClient())
    aws, search = LocalAws(), LocalOpenSearch()
    env = stack_env(kubeconfig, aws.endpoint, search.url, "scenario-logs")
    only = set(sys.argv[1:])  # `hack/scenarios.py NAME...`: just those folders (the recorded ones are always scored)
    from incident_operator.scenarios.replay import node_scoped
    # Node alarms first, alone: their Incidents read every pod on their node (replay.node_scoped)
    dirs = [str(p) for p in sorted((p for p in (ROOT / "scenarios").iterdir() if (p / "scenario.yaml").exists()
                                    and (not only or p.name in only)), key=lambda p: (not node_scoped(p), p.name))]
    results, returncode, stderr = [], None, ""
    try:
        with operator(env, Path(tempfile.mkdtemp()) / "operator.log"):
            out = subprocess.run([sys.executable, "-m", "incident_operator.cli", "replay", *dirs],
                                 env={**os.environ, **env}, capture_output=True, text=True, cwd=ROOT)
            results = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
            returncode, stderr = out.returncode, out.stderr
    finally:
        search.stop()
        aws.stop()
        # only this run's namespaces: another run on the same cluster keeps its own (a missing one is fine)
        for ns in {r["namespace"] for r in results if r.get("namespace")}:
            try:
                client.CoreV1Api().delete_namespace(ns)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
    # the recorded kubelet-side cases (scenarios/recorded/): the rules engine on the evidence the operator
    # collected on the real node, no replay needed
    from incident_operator.scenarios.recorded import recorded_dirs, score
    recorded = [score(p) for p in recorded_dirs(ROOT / "scenarios")]
    results = results + recorded
    print(f"{'scenario':38} {'expected':22} {'got':22} {'conf':>5} {'remediation':18} {'top1':5} {'top3':5} {'→resolved':>9}")
    for r in results:
        got = r.get("got") or {}
        print(f"{r['scenario']:38} {r.get('expected', {}).get('topCause', '?'):22} {str(got.get('topCause')):22} "
              f"{got.get('confidence') or 0:>5.2f} "
              f"{str(got.get('remediation')):18} {'✔' if r.get('top1') else '✘':5} {'✔' if r.get('top3') else '✘':5} "
              f"{(r.get('timings') or {}).get('alarmToResolved') or 0:>8.2f}s")
    n = len(results) or 1
    resolved = [r["timings"]["alarmToResolved"] for r in results if r.get("timings", {}).get("alarmToResolved")]
    kinds: dict[str, list[dict]] = {}
    for r in results:
        kinds.setdefault(r.get("expected", {}).get("topCause", "?"), []).append(r)
    print("\nper kind (top-1):", ", ".join(f"{k} {sum(bool(x.get('top1')) for x in v)}/{len(v)}" for k, v in sorted(kinds.items())))
    print(f"\n{'kind':24} {'n':>3} {'top1':>5} {'top3':>5} {'ECE':>6} {'conf':>5} {'causes':>6}")
    for k, v in sorted(kinds.items()):
        ece = calibration_error(v)
        confs = [c for x in v if isinstance(c := (x.get("got") or {}).get("confidence"), (int, float))]
        ranked = sum(len((x.get("got") or {}).get("causes") or []) for x in v) / len(v)
        print(f"{k:24} {len(v):>3} {sum(bool(x.get('top1')) for x in v):>5} {sum(bool(x.get('top3')) for x in v):>5} "
              f"{'-' if ece is None else f'{ece:.3f}':>6} {(sum(confs) / len(confs)) if confs else 0:>5.2f} {ranked:>6.1f}")
    two = plausible_group(results)
    print(f"\ntwo plausible causes: {two['scenarios']} scenarios, top-1 {two['top1']}/{two['scenarios']}, "
          f"top-3 {two['top3']}/{two['scenarios']}")
    for r in results:
        if (r.get("expected") or {}).get("plausible"):
            got = r.get("got") or {}
            print(f"  {r['scenario']:38} true {r['expected']['topCause']:22} also {','.join(r['expected']['plausible']):22} "
                  f"ranked {' > '.join(got.get('causes') or []) or '-'}")
    by_kind, over = healthy_controls(results)
    print(f"\nhealthy controls (no cause above {HEALTHY_MAX_CONFIDENCE}): "
          + "; ".join(f"{k} {', '.join(v)}" for k, v in sorted(by_kind.items())) + (f" — OVER: {', '.join(over)}" if over else " — none over"))
    misses = [f"{r['scenario']} (expected {r.get('expected', {}).get('topCause')}, got {(r.get('got') or {}).get('topCause')})"
              for r in results if not r.get("top1")]
    print("misses:", ", ".join(misses) or "none")
    print(json.dumps({"scenarios": len(results), "top1": round(sum(bool(r.get("top1")) for r in results) / n, 3),
                      "top3": round(sum(bool(r.get("top3")) for r in results) / n, 3),
                      "pass": sum(bool(r.get("pass")) for r in results),
                      "expectedCalibrationError": calibration_error(results),
                      "twoPlausibleCauses": {k: v for k, v in two.items() if k != "rescued"},
                      "alarmToResolvedP50": round(statistics.median(resolved), 3) if resolved else None}))
    problems = incomplete(results[:len(results) - len(recorded)], dirs, returncode)
    problems += [f"건강한 대조군에 {HEALTHY_MAX_CONFIDENCE} 넘는 원인: {x}" for x in over]
    if problems:
        print("\n".join(problems), "\n" + stderr[-4000:] if stderr else "")
        return 1
    ece = calibration_error(results)
    if ece is not None and ece > MAX_CALIBRATION_ERROR:
        print(f"calibration error {ece} is above {MAX_CALIBRATION_ERROR}")
        return 1
    return 0 if results and all(r.get("pass") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
