"""crds/incident.yaml, generated from the pydantic models (`make crd`, `incident-operator crd`).

The models (models/spec.py, models/status.py) are the source of truth. Their JSON Schema is turned into a
structural schema the API server accepts: `$ref`s inlined, `Optional[X]` as X (nullable in status, where
the operator writes whole objects that may hold nulls), free-form maps as `x-kubernetes-preserve-unknown-fields`,
conditions as a list-map keyed by type. Every field must carry a description: `kubectl explain` prints them.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from .constants import GROUP, PLURAL, VERSION
from .models.spec import IncidentSpec
from .models.status import IncidentStatus

HEADER = ("# The Incident custom resource: one analysed incident, from the alarm that started it to its recovery.\n"
          "# GENERATED from operator/incident_operator/models/{spec,status}.py by `make crd`: do not edit by hand.\n")
PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Alarm", "type": "string", "jsonPath": ".spec.alarm.name"},
    {"name": "Severity", "type": "string", "jsonPath": ".spec.severity"},
    {"name": "Outcome", "type": "string", "jsonPath": ".status.outcome"},
    {"name": "Top cause", "type": "string", "jsonPath": ".status.topCause"},
    {"name": "Issue", "type": "string", "jsonPath": ".status.report.ref"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Engine", "type": "string", "jsonPath": ".status.engine", "priority": 1},
    {"name": "Message", "type": "string", "jsonPath": ".status.summary", "priority": 1},
]
# keywords a status schema keeps: the operator validates its writes with the model; the API server must
# never reject (or prune) one because of a length or a format
STATUS_DROPS = ("pattern", "maxLength", "minLength", "minimum", "maximum", "format", "exclusiveMinimum", "exclusiveMaximum")
SCALARS = (str, int, float, bool)


class SchemaError(ValueError):
    pass


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Resolve every $ref (structural schemas have none)."""
    if isinstance(node, list):
        return [_inline(x, defs) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return {**target, **{k: _inline(v, defs) for k, v in node.items() if k != "$ref"}}
    return {k: _inline(v, defs) for k, v in node.items()}


def _structural(node: dict[str, Any], path: str, *, status: bool) -> dict[str, Any]:
    """One JSON Schema node (pydantic's) as a structural OpenAPI v3 node."""
    node = dict(node)
    node.pop("title", None)
    nullable = False
    if "anyOf" in node:
        every = node.pop("anyOf")
        options = [o for o in every if o.get("type") != "null"]
        nullable = len(options) < len(every)
        if len(options) == 1:
            node = {**options[0], **node}
        else:  # a union of different types is not expressible in a structural schema: free-form
            node["x-kubernetes-preserve-unknown-fields"] = True
            if all(o.get("type") == "object" for o in options):
                node["type"] = "object"
    node.pop("title", None)
    node.pop("propertyNames", None)  # a map keyed by an enum: not expressible structurally (the values still are)
    if node.get("description"):  # docstrings: one paragraph
        node["description"] = " ".join(node["description"].split())
    if "const" in node:
        node["enum"] = [node.pop("const")]
    default = node.pop("default", None)
    crd_default = node.pop("x-crd-default", None)
    if not status:
        if crd_default is not None:
            node["default"] = crd_default
        elif isinstance(default, SCALARS):
            node["default"] = default
    if status:
        for k in STATUS_DROPS:
            node.pop(k, None)
        if nullable:
            node["nullable"] = True
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        node["type"] = "object"
        props = node.get("properties")
        extra = node.pop("additionalProperties", None)
        if props:
            node["properties"] = {k: _structural(v, f"{path}.{k}", status=status) for k, v in props.items()}
            missing = [f"{path}.{k}" for k, v in node["properties"].items() if not v.get("description")]
            if missing:
                raise SchemaError(f"fields without a description (kubectl explain prints it): {', '.join(missing)}")
            if not status and node.get("required"):
                node["required"] = list(node["required"])
            else:
                node.pop("required", None)
        elif isinstance(extra, dict) and extra and "anyOf" not in extra:
            node["additionalProperties"] = _structural(extra, f"{path}.*", status=status)
        else:  # a free-form map: the one place unknown fields are kept
            node["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "array":
        node["items"] = _structural(node.get("items") or {}, f"{path}[]", status=status)
    return node


def _order(node: dict[str, Any]) -> dict[str, Any]:
    """A stable, readable key order."""
    first = ("description", "type", "nullable", "format", "enum", "default", "required")
    out = {k: node[k] for k in first if k in node}
    out.update({k: v for k, v in node.items() if k not in out and k not in ("properties", "items", "additionalProperties")})
    for k in ("properties",):
        if k in node:
            out[k] = {name: _order(v) for name, v in node[k].items()}
    for k in ("items", "additionalProperties"):
        if k in node:
            out[k] = _order(node[k])
    return out


def schema_for(model: type[BaseModel], *, status: bool) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _order(_structural(_inline({k: v for k, v in raw.items() if k != "$defs"}, raw.get("$defs", {})),
                              "status" if status else "spec", status=status))


def status_schema() -> dict[str, Any]:
    schema = schema_for(IncidentStatus, status=True)
    conditions = schema["properties"]["conditions"]
    conditions.pop("nullable", None)
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    conditions["items"]["required"] = ["type", "status"]
    return schema


def crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": "Incident", "listKind": "IncidentList", "plural": PLURAL, "singular": "incident",
                      "shortNames": ["inc"], "categories": ["all"]},
            "versions": [{
                "name": VERSION, "served": True, "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": PRINTER_COLUMNS,
                "schema": {"openAPIV3Schema": {
                    "description": "An incident: the alarm (or person) that opened it in spec, the operator's "
                                   "analysis, report and remediation in status.",
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "apiVersion": {"type": "string", "description": "APIVersion of this object (netaiops.io/v1alpha1)"},
                        "kind": {"type": "string", "description": "Kind of this object (Incident)"},
                        "metadata": {"type": "object"},
                        "spec": schema_for(IncidentSpec, status=False),
                        "status": status_schema(),
                    },
                }},
            }],
        },
    }


def small_crd(kind: str, plural: str, short: str, spec_model: type[BaseModel], description: str,
              columns: list[dict[str, Any]]) -> dict[str, Any]:
    """A spec-only CRD of this group (IncidentApproval, RemediationPolicy)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower(),
                      "shortNames": [short]},
            "versions": [{
                "name": VERSION, "served": True, "storage": True,
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": {
                    "description": description,
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "apiVersion": {"type": "string", "description": f"APIVersion of this object ({GROUP}/{VERSION})"},
                        "kind": {"type": "string", "description": f"Kind of this object ({kind})"},
                        "metadata": {"type": "object"},
                        "spec": schema_for(spec_model, status=False),
                    },
                }},
            }],
        },
    }


def approval_crd() -> dict[str, Any]:
    from .models.approval import IncidentApprovalSpec
    return small_crd("IncidentApproval", "incidentapprovals", "incapproval", IncidentApprovalSpec,
                     "A named person's decision (approve or deny) on one remediation plan of one Incident. Who created "
                     "it is the API server's word: admission checks spec.approvedBy against the requester.",
                     [{"name": "Incident", "type": "string", "jsonPath": ".spec.incident"},
                      {"name": "Decision", "type": "string", "jsonPath": ".spec.decision"},
                      {"name": "By", "type": "string", "jsonPath": ".spec.approvedBy"},
                      {"name": "Plan", "type": "string", "jsonPath": ".spec.plan"},
                      {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}])


def policy_crd() -> dict[str, Any]:
    from .models.approval import RemediationPolicySpec
    return small_crd("RemediationPolicy", "remediationpolicies", "rempol", RemediationPolicySpec,
                     "Per namespace: which remediation actions run automatically, need approval or never run "
                     "(only stricter than the cluster's policy counts).",
                     [{"name": "Default", "type": "string", "jsonPath": ".spec.default"},
                      {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}])


SMALL_HEADER = ("# GENERATED from operator/incident_operator/models/approval.py by `make crd`: do not edit by hand.\n")


def render(which: str = "incident") -> str:
    if which == "approval":
        return "# The IncidentApproval custom resource: a named person's decision on a remediation plan.\n" + SMALL_HEADER + \
            yaml.safe_dump(approval_crd(), sort_keys=False, allow_unicode=True, width=120)
    if which == "policy":
        return "# The RemediationPolicy custom resource: per namespace, what runs automatically, with approval, or never.\n" + \
            SMALL_HEADER + yaml.safe_dump(policy_crd(), sort_keys=False, allow_unicode=True, width=120)
    return HEADER + yaml.safe_dump(crd(), sort_keys=False, allow_unicode=True, width=120)

