"""Browse a manifest: a static HTML report (``kcli report``) and a local server for it (``kcli view``)."""

from kdata.report.build import ReportResult, write_report

__all__ = ["ReportResult", "write_report"]
