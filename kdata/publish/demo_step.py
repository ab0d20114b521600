"""The demo's last data step: export the demo dataset as a Hub folder (``--to``) and write its report."""

from __future__ import annotations

from kdata.demo_context import DemoContext, StepResult


def step_publish(ctx: DemoContext) -> StepResult:
    """Works on whatever image manifest the demo reached; absent caption or score columns are fine."""
    from kdata.publish import PublishConfig, export_dataset
    from kdata.report import write_report

    out = ctx.path("90-publish")
    # The demo owns this folder, so a changed upstream manifest simply replaces the old export.
    export = export_dataset(ctx.image_manifest, out / "hub", PublishConfig(pretty_name="kcli demo"), overwrite=True)
    report = write_report(ctx.image_manifest, out / "report")
    summary = {
        "manifest": str(ctx.image_manifest),
        "rows": export.rows,
        "files": len(export.files),
        "hub_folder": str(export.path),
        "report": str(report.index),
        "note": f"report: {report.index}",
    }
    return StepResult("publish", out, summary)
