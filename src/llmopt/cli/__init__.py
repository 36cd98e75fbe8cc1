"""The llmopt command line: one module per command group, each thin over the Python API.

A module here defines `register(app: typer.Typer)`; main.py discovers them, so adding a command is a one-file change.
"""
