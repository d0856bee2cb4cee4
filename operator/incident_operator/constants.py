"""Names that tie the operator to its custom resource."""

GROUP = "netaiops.io"
VERSION = "v1alpha1"
PLURAL = "incidents"
KIND = "Incident"
API_VERSION = f"{GROUP}/{VERSION}"

# Working phases in order; each one is run once and recorded in status.
PHASES = ("Gathering", "Reporting", "Collecting", "Correlating", "Diagnosing", "Responding")
RESOLVED = "Resolved"  # remediated and verified healthy, or the alarm recovered
NEEDS_ACTION = "NeedsAction"  # analysed; a person has to act (no known fix, dry-run, or a fix not verified)
FAILED = "Failed"
GROUPED = "Grouped"  # the same event as an earlier Incident (its parent): analysed and reported there
FINISHED_PHASES = (RESOLVED, NEEDS_ACTION, FAILED, GROUPED)
AWAITING_APPROVAL = "AwaitingApproval"  # Responding, a plan waiting for a person's IncidentApproval (no worker held)

FIELD_MANAGER = "incident-operator"
ANNOTATION_PREFIX = GROUP
EVIDENCE_CONFIGMAP_SUFFIX = "-evidence"

# Day-2 annotations on an Incident
ANN_RERUN = f"{GROUP}/rerun"  # any new value: analyse again from the start
ANN_ACKNOWLEDGED_BY = f"{GROUP}/acknowledged-by"  # a person took it: no automatic remediation
ANN_SILENCED = f"{GROUP}/silenced"  # "true": stop working on it

# Labels that let similar Incidents be found with a label selector
LABEL_ALARM = f"{GROUP}/alarm"  # also set by the bridge Lambda
LABEL_WORKLOAD = f"{GROUP}/workload"
LABEL_CAUSE = f"{GROUP}/cause"  # the top cause's kind, once diagnosed
LABEL_NODE = f"{GROUP}/node"  # the node the incident is on (a Node target, or a single pod's node)
LABEL_PARENT = f"{GROUP}/parent"  # on a Grouped Incident: the Incident it was grouped under
LABEL_FIX = f"{GROUP}/fix"  # the verified fix (action) whose effectiveness was checked
LABEL_FIX_RESULT = f"{GROUP}/fix-result"  # held | regressed: the similar-incident memory ranks fixes by it
LABEL_AWAITING_APPROVAL = f"{GROUP}/awaiting-approval"  # "true" while a plan awaits approval: the pending gauge's query
LABEL_ARCHIVED = f"{GROUP}/archived"  # "true": finished, nothing owed; outside the operator's watch (watching.py)
