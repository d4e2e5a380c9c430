"""The report's machinery: which task outputs are stale (check_outputs), the whole build
(make_report: python -m reporting.make_report), executing and exporting report.ipynb
(build_report, myst_export, template/), and the helpers the notebook computes its numbers with
(report_helpers)."""
