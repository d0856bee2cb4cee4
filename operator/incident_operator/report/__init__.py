"""The Korean incident report and the sinks it is written to."""
