"""Compare reports as a table for people (the JSON is for the gates)."""

from __future__ import annotations

from statehub.cli.entry import console
from statehub.policy.report import Report

SHOWN_TABLES = 30
"""Rows of the table printed: the differing tables first, then the largest; the report has every one."""


def show_compare(report: Report) -> None:
    from rich.table import Table  # noqa: PLC0415 - with the console, loaded while the compare ran

    details = report.details
    differing = {difference["where"] for difference in details["differences"]}
    tables = details["tables"]
    order = sorted(tables, key=lambda name: (name not in differing, -(tables[name]["source_rows"] or 0), name))
    table = Table(title=f"compare: {details['source']} -> {details['target']}")
    for column in ("table", "source rows", "target rows"):
        table.add_column(column)
    for name in order[:SHOWN_TABLES]:
        table.add_row(name, str(tables[name]["source_rows"]), str(tables[name]["target_rows"]))
    if len(order) > SHOWN_TABLES:
        rest = order[SHOWN_TABLES:]
        table.add_row(f"... {len(rest)} more tables", str(sum(tables[n]["source_rows"] or 0 for n in rest)), "")
    console().print(table)
    for difference in details["differences"]:
        keys = f" keys: {', '.join(difference['keys'])}" if difference.get("keys") else ""
        console().print(f"[red]DIFF[/] {difference['kind']} {difference['where']}: {difference['detail']}{keys}")
    colour = "green" if report.result == "pass" else "red"
    console().print(f"[{colour}]{report.result.upper()}[/] in {details['seconds']} s")
