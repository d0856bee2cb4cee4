"""incident-operator: turns cloud alarms into fully analysed Kubernetes Incidents."""

__version__ = "0.1.0"
