"""Compare reports as a table for people (the JSON is for the gates)."""

from __future__ import annotations

from statehub.cli.entry import console
from statehub.policy.report import Report


def show_compare(report: Report) -> None:
    from rich.table import Table  # noqa: PLC0415 - with the console, loaded while the compare ran

    details = report.details
    table = Table(title=f"compare: {details['source']} -> {details['target']}")
    for column in ("table", "source rows", "target rows"):
        table.add_column(column)
    for name, rows in sorted(details["tables"].items()):
        table.add_row(name, str(rows["source_rows"]), str(rows["target_rows"]))
    console().print(table)
    for difference in details["differences"]:
        keys = f" keys: {', '.join(difference['keys'])}" if difference.get("keys") else ""
        console().print(f"[red]DIFF[/] {difference['kind']} {difference['where']}: {difference['detail']}{keys}")
    colour = "green" if report.result == "pass" else "red"
    console().print(f"[{colour}]{report.result.upper()}[/] in {details['seconds']} s")
