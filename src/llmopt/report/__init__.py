"""Reports at the bottom of the package: tables, sections, PNG plots, and report.md / .html / .json writing.

Every command that writes a report (lab, eval, sql eval, finetune, distill) builds Sections from Tables and plots
and calls write_report. This package imports nothing from llmopt but paths and redact, so any part can use it
without an import cycle; the lab only orchestrates.
"""

from .format import percent, seconds, tokens, usd_per_1k
from .plots import bar_chart, pareto_plot, parity, pyplot, save_plot, scatter
from .tables import (LADDER_COLUMNS, LadderRow, Table, cell, html_table, ladder_rows_for_people, ladder_table,
                     markdown_table, reformat)
from .writer import Section, Verdict, write_report

__all__ = ["LADDER_COLUMNS", "LadderRow", "Section", "Table", "Verdict", "bar_chart", "cell", "html_table",
           "ladder_rows_for_people", "ladder_table", "markdown_table", "pareto_plot", "parity", "percent", "pyplot",
           "reformat", "save_plot", "scatter", "seconds", "tokens", "usd_per_1k", "write_report"]
