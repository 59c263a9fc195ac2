"""Table-cell formatting shared by the report.md sections: missing values as a dash, milliseconds and
cosines at a readable precision."""

from __future__ import annotations


def fmt(value, fmt: str, none: str = "–") -> str:
    if value is None:
        return none
    return format(value, fmt)


def fmt_ms(value) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.3f}"


def row_name(row: dict) -> str:
    """The backend column: rows benchmarked on --allow-unverified say so wherever they appear."""
    return f"{row['backend']} (UNVERIFIED)" if row.get("unverified") else row["backend"]


def fmt_cos(value) -> str:
    if value is None:
        return "–"
    return "1.000000" if value >= 1 - 5e-7 else f"{value:.6f}"
