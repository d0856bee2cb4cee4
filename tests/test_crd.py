"""The CRD's schema rejects broken Incidents at the API, before the operator ever sees them."""

import pytest
from kubernetes import client

from local_stack.workloads import incident


def _create(incidents, body):
    return incidents.create(body)


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b["spec"].update(severity="urgent"), "Unsupported value"),
    (lambda b: b["spec"].update(source="pager"), "Unsupported value"),
    (lambda b: b["spec"].pop("target"), "spec.target is required"),
    (lambda b: b["spec"]["options"].update(remediation="always"), "Unsupported value"),
    (lambda b: b["spec"]["target"].update(namespace="Not_A_Namespace"), "should match"),
    (lambda b: b["spec"].update(source="alarm"), "spec.alarm is required"),
    (lambda b: b["spec"].update(alarm={"name": "x", "arn": "not-an-arn"}), "should match"),
    (lambda b: b["spec"].update(alarm={"name": "x", "timestamp": "yesterday"}), "timestamp"),
    (lambda b: b["spec"].update(alarm={"name": "x", "threshold": "eighty"}), "threshold"),
])
def test_bad_incident_is_rejected_with_a_clear_error(incidents, mutate, message):
    body = incident("bad", target={"namespace": "default", "kind": "Deployment", "name": "api"})
    mutate(body)
    with pytest.raises(client.ApiException) as err:
        _create(incidents, body)
    assert err.value.status == 422
    assert message in err.value.body


def test_valid_incident_gets_defaults_and_printer_columns(incidents, kube):
    created = incidents.create(incident("ok", alarm={"name": "netaiops-cpu-spike", "threshold": 80,
                                                     "arn": "arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:netaiops-cpu-spike",
                                                     "region": "ap-northeast-2",
                                                     "timestamp": "2026-11-25T01:02:03Z"}))
    assert created["spec"]["options"] == {"remediation": "auto", "language": "ko", "windowMinutes": 30}
    assert created["spec"]["alarm"]["state"] == "ALARM"
    crd = client.ApiextensionsV1Api().read_custom_resource_definition("incidents.netaiops.io")
    version = crd.spec.versions[0]
    assert [c.name for c in version.additional_printer_columns][:6] == ["Phase", "Alarm", "Severity", "Outcome", "Top cause", "Issue"]
    assert crd.spec.names.short_names == ["inc"] and "all" in crd.spec.names.categories
    assert version.subresources.status is not None
