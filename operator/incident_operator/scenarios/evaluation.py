"""`incident-operator eval`: the scenario corpus through the rules engine and through the LLM agent, scored alike.

A run has two halves, so a model's answers can be scored again without the model:

- **capture** (needs the local stack and, for the agent, a model): every scenario is staged as `make
  scenarios` does (its objects, metrics and logs, its alarm through the bridge into an Incident, dry-run
  remediation so the broken state stays for the model's tools); the operator's own gather and collect
  phases run on that Incident in this process (no operator process: nothing else's stack can answer for
  it) and the evidence bundle is saved; the production agent (`LlmDiagnoser`: the configured provider,
  the tools, the guard and its budgets) answers on it. The run directory holds `meta.json`,
  `answers.jsonl` (one line a scenario: the model's raw structured answer, tokens, seconds, attempts,
  tool calls, why it fell back) and `evidence/<scenario>.json`.
- **score** (needs neither): the rules engine is run on each saved bundle; the model's saved answer is
  grounded against it as the operator would (`to_diagnosis`); both are scored against each scenario's
  `expected.yaml` as read now: top-1, top-3, expected calibration error of the top cause (5 bins;
  `unknown` is an abstention: counted in accuracy, not in calibration — as `make scenarios`), tokens and
  seconds per Incident. A model's fallback (budget, refusal, error) is a miss in its own columns; the
  `as operated` column counts what the operator would have reported (the rules' answer then).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

META, ANSWERS, EVIDENCE = "meta.json", "answers.jsonl", "evidence"


def expected_calibration_error(pairs: Iterable[tuple[float, bool]], bins: int = 5) -> float | None:
    """|mean confidence - accuracy| per confidence bin, weighted by the bin's share of answers."""
    pairs = [(float(c), ok) for c, ok in pairs if isinstance(c, (int, float))]
    if not pairs:
        return None
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(c, ok) for c, ok in pairs if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if inside:
            conf = sum(c for c, _ in inside) / len(inside)
            acc = sum(ok for _, ok in inside) / len(inside)
            total += len(inside) / len(pairs) * abs(conf - acc)
    return round(total, 3)


@dataclass
class Scored:
    """One engine's answer to one scenario."""

    scenario: str
    causes: list[tuple[str, float]]  # ranked (kind, confidence)
    top1: bool
    top3: bool
    answered: bool = True  # False: the model fell back (or no evidence): a miss in its own columns
    fallback: str | None = None
    tokens: int = 0
    seconds: float = 0.0
    repairs: int = 0
    as_operated_top1: bool | None = None

    @property
    def confidence(self) -> float | None:
        return self.causes[0][1] if self.causes else None


def hit(kinds: list[str], expected: dict) -> tuple[bool, bool]:
    ok = {expected["topCause"], *(expected.get("alternatives") or [])}
    return bool(kinds) and kinds[0] in ok, bool(set(kinds[:3]) & ok)


def passed(kinds: list[str], expected: dict, remediation: str) -> bool:
    """A scenario's verdict: the expected cause first and the expected fix; for a case built with two plausible causes
    (`plausible` in expected.yaml) the true cause within the first three (the ranking offers it when top-1 is the
    other one) and the expected fix."""
    top1, top3 = hit(kinds, expected)
    return (top3 if expected.get("plausible") else top1) and remediation == expected.get("remediation", "none")


@dataclass
class Summary:
    label: str
    rows: list[Scored] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        n = len(self.rows) or 1
        answered = [r for r in self.rows if r.answered]
        named = [(r.confidence, r.top1) for r in answered if r.causes and r.causes[0][0] != "unknown"]
        fallbacks: dict[str, int] = {}
        for r in self.rows:
            if r.fallback:
                fallbacks[r.fallback] = fallbacks.get(r.fallback, 0) + 1
        operated = [r.as_operated_top1 if r.as_operated_top1 is not None else r.top1 for r in self.rows]
        return {"engine": self.label, "scenarios": len(self.rows), "answered": len(answered),
                "top1": sum(r.top1 for r in self.rows), "top3": sum(r.top3 for r in self.rows),
                "top1AsOperated": sum(operated),
                "expectedCalibrationError": expected_calibration_error(named),
                "tokensPerIncident": round(sum(r.tokens for r in self.rows) / n),
                "secondsPerIncident": round(sum(r.seconds for r in self.rows) / n, 3),
                "toolArgumentRepairs": sum(r.repairs for r in self.rows), "fallbacks": fallbacks}


def table(summaries: list[Summary]) -> str:
    """One Markdown table, an engine a row."""
    head = ("| engine | answered | top-1 | top-3 | ECE | top-1 as operated | tokens / Incident | s / Incident | "
            "repairs | fallbacks |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for s in summaries:
        d = s.as_dict()
        n = d["scenarios"]
        ece = "—" if d["expectedCalibrationError"] is None else f"{d['expectedCalibrationError']:.3f}"
        falls = ", ".join(f"{k} {v}" for k, v in sorted(d["fallbacks"].items())) or "—"
        lines.append(f"| {d['engine']} | {d['answered']}/{n} | {d['top1']}/{n} | {d['top3']}/{n} | {ece} | "
                     f"{d['top1AsOperated']}/{n} | {d['tokensPerIncident']:,} | {d['secondsPerIncident']:.3f} | "
                     f"{d['toolArgumentRepairs']} | {falls} |")
    return "\n".join(lines)


# --- a saved run -------------------------------------------------------------------------------------------

def expected_of(root: Path, scenario: str, saved: dict | None) -> dict | None:
    """The scenario's expected.yaml as it is now (the snapshot in the run when the folder is gone)."""
    path = root / scenario / "expected.yaml"
    if path.exists():
        data = yaml.safe_load(path.read_text()) or {}
        from .replay import Expected
        return Expected.model_validate(data).as_dict()
    return saved


def load_run(run: Path) -> tuple[dict, list[dict]]:
    meta = json.loads((run / META).read_text()) if (run / META).exists() else {}
    records = [json.loads(line) for line in (run / ANSWERS).read_text().splitlines() if line.strip()]
    return meta, records


def model_label(meta: dict) -> str:
    return meta.get("label") or f"{meta.get('provider', '?')} {meta.get('model', '?')}"


def score_run(run: Path, scenarios_root: Path) -> tuple[Summary, Summary | None]:
    """(rules engine, model) over a saved run: no cluster, no model."""
    from ..agent.engine import to_diagnosis
    from ..agent.schema import AgentDiagnosis
    from ..analyzers import analyze
    from ..models.evidence import EvidenceBundle

    meta, records = load_run(run)
    rules_sum = Summary("rules engine")
    model_sum = Summary(model_label(meta)) if meta.get("model") else None
    for rec in records:
        name = rec["scenario"]
        expected = expected_of(scenarios_root, name, rec.get("expected"))
        evidence = run / EVIDENCE / f"{name}.json"
        if expected is None:
            continue
        if not evidence.exists():  # the replay failed: nothing to diagnose, a miss for every engine
            rules_sum.rows.append(Scored(name, [], False, False, answered=False, fallback="no-evidence"))
            if model_sum:
                model_sum.rows.append(Scored(name, [], False, False, answered=False, fallback="no-evidence"))
            continue
        bundle = EvidenceBundle.model_validate_json(evidence.read_text())
        started = time.perf_counter()
        rules = analyze(bundle)
        took = time.perf_counter() - started
        kinds = [c.kind for c in rules.causes]
        r1, r3 = hit(kinds, expected)
        rules_sum.rows.append(Scored(name, [(c.kind, c.confidence) for c in rules.causes], r1, r3, seconds=took))
        if model_sum is None:
            continue
        m = rec.get("model") or {}
        tokens = int(m.get("inputTokens") or 0) + int(m.get("outputTokens") or 0)
        base = dict(tokens=tokens, seconds=float(m.get("seconds") or 0), repairs=int(m.get("repairs") or 0))
        if m.get("answer"):
            d = to_diagnosis(AgentDiagnosis.model_validate(m["answer"]), rules)
            mk = [c.kind for c in d.causes]
            m1, m3 = hit(mk, expected)
            model_sum.rows.append(Scored(name, [(c.kind, c.confidence) for c in d.causes], m1, m3, **base))
        else:
            model_sum.rows.append(Scored(name, [], False, False, answered=False,
                                         fallback=m.get("fallbackKind") or "error", as_operated_top1=r1, **base))
    return rules_sum, model_sum


def rescore(runs: list[Path], scenarios_root: Path) -> list[Summary]:
    """Every saved run, side by side: its model's row, and the rules engine's (once when the evidence agrees)."""
    out: list[Summary] = []
    seen_rules: list[dict] = []
    for run in runs:
        rules, model = score_run(run, scenarios_root)
        key = {k: v for k, v in rules.as_dict().items() if k != "secondsPerIncident"}
        if key not in seen_rules:
            if seen_rules:
                rules.label = f"rules engine ({run.name})"
            seen_rules.append(key)
            out.append(rules)
        if model:
            out.append(model)
    return out


def per_scenario(summaries: list[Summary]) -> str:
    """Which engine got which scenario: a line each, the misses marked."""
    names = [r.scenario for r in summaries[0].rows] if summaries else []
    by = [{r.scenario: r for r in s.rows} for s in summaries]
    lines = []
    for name in names:
        cells = []
        for s, rows in zip(summaries, by):
            r = rows.get(name)
            if r is None:
                cells.append("-")
            elif not r.answered:
                cells.append(f"({r.fallback})")
            else:
                cells.append(f"{r.causes[0][0] if r.causes else '-'} {r.confidence or 0:.2f}{'' if r.top1 else ' ✘'}")
        lines.append(f"{name:38} " + " | ".join(f"{c:30}" for c in cells))
    return "\n".join(lines)


# --- capture ---------------------------------------------------------------------------------------------

def collect_evidence(kube: Any, settings: Any, ns: str, name: str) -> Any:
    """The operator's gather and collect phases on the Incident, in this process: its evidence bundle."""
    from ..constants import GROUP, PLURAL, VERSION
    from ..models.spec import IncidentSpec
    from ..phases import collect, gather
    from ..runtime import build_context

    incident = kube.custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    ctx = build_context(kube, settings.model_copy(update={"group_window_seconds": 0}), incident)
    ctx.spec = IncidentSpec.model_validate(incident["spec"])
    ctx.status.update(gather.run(ctx))
    collect.run(ctx)
    return ctx.evidence()


def capture(dirs: list[Path], out: Path, kube: Any, settings: Any, llm: Any | None, timeout: float = 90,
            label: str | None = None) -> Iterator[dict]:
    """Replay each scenario, save its evidence and (with `llm` settings) the model's answer; yield a line each."""
    from kubernetes import client

    from ..agent import providers
    from ..agent.budget import DayBudget
    from ..agent.engine import LlmDiagnoser
    from ..analyzers import analyze
    from ..tools.base import ToolDeps
    from .replay import delete_cluster_objects, stage

    (out / EVIDENCE).mkdir(parents=True, exist_ok=True)
    meta = {"startedAt": datetime.now(timezone.utc).isoformat(), "scenarios": len(dirs)}
    if llm is not None:
        meta.update({"provider": llm.llm_provider, "model": providers.model_id(llm),
                     "baseUrl": llm.llm_base_url or llm.llm_endpoint_url, "incidentTokenBudget": llm.llm_incident_token_budget,
                     "dayTokenBudget": llm.llm_day_token_budget, "maxTokens": llm.llm_max_tokens,
                     **({"label": label} if label else {})})
    (out / META).write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    day = DayBudget(llm.llm_day_token_budget) if llm is not None else None  # this run's own day, in memory
    with (out / ANSWERS).open("w") as answers:
        for path in dirs:
            rec: dict[str, Any] = {"scenario": path.name}
            ns = None
            try:
                sc, ns, name, _, _ = stage(path, kube, settings, remediation="dry-run", namespace_prefix="evl")
                rec["expected"] = sc.expected.as_dict()
                bundle = collect_evidence(kube, settings, ns, name)
                (out / EVIDENCE / f"{path.name}.json").write_text(bundle.model_dump_json(by_alias=True, exclude_none=True))
                if llm is not None:
                    deps = ToolDeps(settings=llm, kube=kube)
                    answer, outcome = LlmDiagnoser(deps, deps.registry, day).answer(bundle, analyze(bundle), [])
                    rec["model"] = {"answer": answer.model_dump(mode="json") if answer else None,
                                    "inputTokens": outcome.input_tokens, "outputTokens": outcome.output_tokens,
                                    "seconds": outcome.seconds, "attempts": outcome.attempts,
                                    "toolCalls": outcome.tool_calls, "repairs": outcome.repairs,
                                    "fallbackKind": None if answer else (outcome.fallback_kind or "error"),
                                    "fallbackReason": None if answer else outcome.error}
            except Exception as exc:  # noqa: BLE001 - one scenario's failure is its line, the run goes on
                rec["error"] = f"{type(exc).__name__}: {exc}"[:500]
            finally:
                if ns:
                    delete_cluster_objects(kube, ns)
                    try:
                        kube.core.delete_namespace(ns)
                    except client.ApiException:
                        pass
            answers.write(json.dumps(rec, ensure_ascii=False) + "\n")
            answers.flush()
            yield rec


__all__ = ["Scored", "Summary", "capture", "expected_calibration_error", "hit", "load_run", "passed", "per_scenario", "rescore",
           "score_run", "table"]
