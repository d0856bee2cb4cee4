"""crds/incident.yaml is generated from the models, and the API server keeps every status field the operator writes."""

from __future__ import annotations

import subprocess
import typing

import pytest
from pydantic import BaseModel

from incident_operator import crd, pipeline
from incident_operator.kube.incidents import IncidentStore
from incident_operator.models.status import IncidentStatus, StatusSchemaError, check_patch

from local_stack import scenarios
from local_stack.cluster import ROOT, kubectl_path, wait_for
from .support.status_sample import model_sample
from local_stack.workloads import incident

CRD = ROOT / "crds" / "incident.yaml"


def test_committed_crd_is_what_the_models_generate():
    assert CRD.read_text() == crd.render(), (
        "crds/incident.yaml differs from what operator/incident_operator/models/{spec,status}.py generate: run `make crd`")


def test_status_schema_is_structural_and_typed():
    status = crd.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]

    def walk(node, path):
        assert "$ref" not in node and "anyOf" not in node and "oneOf" not in node, path
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert node.get("description"), f"{path} has no description"
        for k, v in (node.get("properties") or {}).items():
            walk(v, f"{path}.{k}")
        if "items" in node:
            walk({"description": node["description"], **node["items"]}, f"{path}[]")

    walk(status, "status")
    assert not status.get("x-kubernetes-preserve-unknown-fields")  # typed: no longer a bag of anything
    free = sorted(p for p, n in _nodes(status, "status") if n.get("x-kubernetes-preserve-unknown-fields"))
    assert free == ["status.actions[].after", "status.actions[].baseline", "status.actions[].before", "status.actions[].params",
                    "status.causes[].remediation.params", "status.remediation.params"]
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map" and conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["properties"]) == {"type", "status", "reason", "message", "lastTransitionTime",
                                                      "observedGeneration"}


def _nodes(node, path):
    yield path, node
    for k, v in (node.get("properties") or {}).items():
        yield from _nodes(v, f"{path}.{k}")
    if "items" in node:
        yield from _nodes(node["items"], f"{path}[]")


def test_a_status_field_missing_from_the_model_fails_loudly_instead_of_being_pruned():
    with pytest.raises(StatusSchemaError, match="make crd") as err:
        check_patch({"phase": "Gathering", "newThing": 1, "report": {"ref": "x", "shiny": True}})
    assert "newThing" in str(err.value) and "report.shiny" in str(err.value)
    with pytest.raises(StatusSchemaError):
        check_patch({"outcome": "fixed-probably"})
    check_patch({"phase": None, "report": {"lastError": None}})  # merge-patch deletes are fine


@pytest.mark.cluster
@pytest.mark.parametrize("with_null", [False, True], ids=["every-field-set", "nested-nulls"])
def test_every_status_field_the_model_declares_survives_the_api_server(kube, ns, incidents, with_null):
    incidents.create(incident("full", target={"namespace": ns}))
    status = model_sample(IncidentStatus, with_null=with_null)
    IncidentStore(kube).patch_status(ns, "full", status)
    stored = incidents.get("full")["status"]
    expected = {k: v for k, v in status.items() if v is not None}  # a top-level null is a merge-patch delete
    assert stored == expected


def _explain(kubeconfig: str, field: str) -> str:
    out = subprocess.run([kubectl_path(), "--kubeconfig", kubeconfig, "explain", f"incidents.{field}"],
                         capture_output=True, text=True, timeout=60)
    return " ".join(out.stdout.split()) if out.returncode == 0 else ""


def _model_of(annotation) -> type[BaseModel] | None:
    for a in (annotation, *typing.get_args(annotation)):
        for b in (a, *typing.get_args(a)):
            if isinstance(b, type) and issubclass(b, BaseModel):
                return b
    return None


@pytest.mark.cluster
def test_kubectl_explain_documents_every_status_field(kubeconfig):
    def described(field: str, model: type[BaseModel]) -> str:
        docs = {f.alias: " ".join(f.description.split()) for f in model.model_fields.values()}
        # the API server publishes a CRD's schema a moment after it is established
        return wait_for(lambda: (lambda text: text if all(d in text for d in docs.values()) else None)(_explain(kubeconfig, field)),
                        60, f"kubectl explain incidents.{field} to describe {sorted(docs)}")

    described("status", IncidentStatus)
    causes = described("status.causes", IncidentStatus.model_fields["causes"].annotation.__args__[0].__args__[0])
    assert "rank" in causes and "<integer>" in causes
    for name, f in IncidentStatus.model_fields.items():  # each object field, one level down
        sub = _model_of(f.annotation)
        if sub is not None:
            described(f"status.{f.alias}", sub)


@pytest.mark.cluster
def test_nothing_the_operator_writes_to_status_is_pruned(kube, ns, settings):
    """A whole run (gather → respond, remediation verified, report closed): the status the operator wrote (kept
    in memory from its own patches) is exactly the status the API server stored."""
    scenarios.bad_rollout(kube, ns)
    ctx = scenarios.context(kube, settings, ns, incident("api-image", target={"namespace": ns, "kind": "Deployment", "name": "api"}))
    phase = wait_for(lambda: _run(ctx), 90, "the pipeline to finish", interval=0.5)
    assert phase == "Resolved", ctx.status.get("lastError")
    stored = IncidentStore(kube).get(ns, "api-image")["status"]
    written = ctx.status
    assert {"causes", "actions", "report", "evidence", "conditions", "timeline", "guide", "window"} <= set(written)
    assert stored == written
    ready = next(c for c in stored["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["observedGeneration"] == 1


def _run(ctx):
    try:
        return pipeline.run(ctx)
    except pipeline.RetryLater:
        return None
