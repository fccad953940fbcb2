"""Results, severities and the renderer every task shares (table, JSON, exit codes)."""

from opskit.output.report import Finding, HostStatus, Report, Severity

__all__ = ["Finding", "HostStatus", "Report", "Severity"]
