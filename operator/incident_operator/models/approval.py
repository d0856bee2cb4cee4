"""The two objects people use to steer remediation (crds/incidentapproval.yaml, crds/remediationpolicy.yaml, `make crd`).

- `IncidentApproval`: a person's decision on one proposed plan of one Incident, in the Incident's namespace. Creating
  one is governed by RBAC (a tenant may approve only where it may create them); who created it is the API server's
  word: `spec.approvedBy` must equal the requester's username, which the ValidatingAdmissionPolicy
  `incident-operator-approvals` (manifests/admission.yaml) checks at creation, and the spec cannot change afterwards.
- `RemediationPolicy`: per namespace, which actions run automatically, need approval, or never run. It can only
  make the cluster's policy stricter (several objects in a namespace: the strictest wins).
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from .base import CamelModel
from .diagnosis import RemediationAction

PolicyMode = Literal["auto", "approve", "never"]
Decision = Literal["approve", "deny"]


class IncidentApprovalSpec(CamelModel):
    """A decision on one remediation plan of one Incident (same namespace)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", json_schema_extra={"x-kubernetes-validations": [
        {"rule": "self == oldSelf", "message": "an approval cannot be changed: delete it and create another"},
    ]})

    incident: str = Field(description="The Incident's name (same namespace)",
                          json_schema_extra={"maxLength": 253, "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"})
    plan: str = Field(description="The plan's hash (status.actions[].planHash): an approval is for that plan only",
                      json_schema_extra={"maxLength": 64, "pattern": "^[0-9a-f]{8,64}$"})
    decision: Decision = Field(description="approve or deny")
    approved_by: str = Field(description="The creator's username as the API server authenticated it; admission refuses "
                                         "any other value (`incident-operator approve` fills it in)",
                             json_schema_extra={"maxLength": 512})
    comment: str | None = Field(default=None, description="Why (free text, shown in the report)",
                                json_schema_extra={"maxLength": 500})


class RemediationPolicySpec(CamelModel):
    """Per namespace: which remediation actions run on their own (auto), wait for a person (approve) or never run.
    Only stricter than the cluster's policy (INCIDENT_REMEDIATION_MODE, INCIDENT_REMEDIATION_ACTION_MODES) counts."""

    default: PolicyMode | None = Field(default=None, description="For every action not listed: auto, approve or never")
    actions: dict[RemediationAction, PolicyMode] | None = Field(
        default=None, description="Per action (delete-cpu-burner, rollback-image, restore-replicas): auto, approve or never")
    approval_timeout_seconds: int | None = Field(
        default=None, description="How long a proposal waits for approval here (only shorter than the cluster's counts)",
        json_schema_extra={"minimum": 10})
