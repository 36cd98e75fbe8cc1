"""Reports at the bottom of the package: tables, sections, PNG plots, and report.md / .html / .json writing.

Every command that writes a report (lab, eval, sql eval, finetune, distill) builds Sections from Tables and plots
and calls write_report. This package imports nothing from llmopt but paths and redact, so any part can use it
without an import cycle; the lab only orchestrates.
"""

from .plots import bar_chart, parity, pyplot, save_plot, scatter
from .tables import LadderRow, Table, cell, html_table, ladder_table, markdown_table
from .writer import Section, write_report

__all__ = ["LadderRow", "Section", "Table", "bar_chart", "cell", "html_table", "ladder_table", "markdown_table",
           "parity", "pyplot", "save_plot", "scatter", "write_report"]
