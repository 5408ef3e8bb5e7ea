"""Auditors' figures: the anonymised statistics projection, the Mesa's tables with small-cell
suppression, the process dashboard, anonymised timelines, charts and exports (docs/audit.md)."""
