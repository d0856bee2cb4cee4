"""The six phases, each a function of the context returning its status output."""

from . import collect, correlate, diagnose, gather, report, respond

PHASE_FUNCTIONS = {
    "Gathering": gather.run,
    "Reporting": report.run,
    "Collecting": collect.run,
    "Correlating": correlate.run,
    "Diagnosing": diagnose.run,
    "Responding": respond.run,
}
