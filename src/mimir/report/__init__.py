"""The cohort report (``report.html``) of an ``infer`` output folder.

One self-contained HTML page (images inline, no network) summarising a run: the run
itself, each target's distribution, outliers, QC flags and failures. Modules:

- :mod:`mimir.report.data`: reading the output folder (local or merged shards);
- :mod:`mimir.report.stats`: aggregates (robust z-scores, outliers, groups);
- :mod:`mimir.report.charts`: the histograms (inline SVG);
- :mod:`mimir.report.plots`: the demo's prediction-against-truth figure (matplotlib);
- :mod:`mimir.report.thumbs`: image thumbnails and station outlines;
- :mod:`mimir.report.page`: HTML;
- :mod:`mimir.report.build`: the sections and :func:`build_report`.
"""

from mimir.report.build import REPORT_NAME, build_report, try_build_report

__all__ = ["REPORT_NAME", "build_report", "try_build_report"]
