"""Native remediation of known chaos scenarios, behind a policy check."""
