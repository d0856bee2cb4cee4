"""Recorded scenarios: the evidence the operator itself collected for a fault reproduced for real (the real
node's kubelet, containerd and kernel produced it), saved with what the answer must be. They replace the
hand-written kubelet-side scenarios: what a kubelet reports is recorded from a kubelet, not written by us.

scenarios/recorded/<name>/
  bundle.json    the EvidenceBundle as the operator stored it for that Incident
  recorded.yaml  how it was produced (the fault recipe's public source, versions, date) and the expected answer

Scoring is the rules engine on the bundle (no cluster, milliseconds); `make scenarios` and the tests count them
beside the replayed scenarios, in the same table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ..analyzers import analyze
from ..models.evidence import EvidenceBundle
from .evaluation import hit, passed
from .replay import Expected

BUNDLE, META = "bundle.json", "recorded.yaml"


class Recorded(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    name: str
    fault: str = Field(description="The local_stack.faults recipe that produced it")
    source: str = Field(description="The public catalogue entry the recipe follows")
    produced: str = Field(description="How and where it was recorded (tool, node versions, date)")
    expected: Expected
    recorded_answer: dict[str, Any] = Field(default={}, alias="recordedAnswer",
                                            description="The Incident's phase and cause kinds when it was recorded")

    @classmethod
    def load(cls, path: Path) -> "Recorded":
        return cls.model_validate(yaml.safe_load((path / META).read_text()))


def recorded_dirs(root: Path) -> list[Path]:
    base = root / "recorded"
    return sorted(p for p in base.iterdir() if (p / BUNDLE).exists()) if base.is_dir() else []


def load_bundle(path: Path) -> EvidenceBundle:
    return EvidenceBundle.model_validate_json((path / BUNDLE).read_text())


def score(path: Path) -> dict[str, Any]:
    """The rules engine's answer on the recorded evidence, in replay()'s result shape (no timings)."""
    meta, bundle = Recorded.load(path), load_bundle(path)
    causes = analyze(bundle).causes
    kinds = [c.kind for c in causes]
    proposal = causes[0].remediation.action if causes and causes[0].remediation else "none"
    expected = meta.expected.as_dict()
    top1, top3 = hit(kinds, expected)
    return {
        "scenario": f"recorded/{meta.name}", "recorded": True, "source": meta.source,
        "expected": expected,
        "got": {"topCause": kinds[0] if kinds else None, "causes": kinds[:3], "remediation": proposal,
                "confidence": causes[0].confidence if causes else None},
        "pass": passed(kinds, expected, proposal), "top1": top1, "top3": top3, "timings": {},
    }
