"""The bridge Lambda: SNS notifications from CloudWatch alarms become Incident resources."""
