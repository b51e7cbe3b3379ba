"""Reading and writing the command line's text: ``name=value`` pairs, numbers, group labels, tables."""

from __future__ import annotations

import pandas as pd

__all__ = ["floats", "label_columns", "pairs", "show"]


def pairs(text: str, option: str) -> dict[str, str]:
    """Parse ``a=1,b=2`` into a dict of strings."""
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"error: {option} expects name=value pairs separated by commas, got {text!r}")
        out[key.strip()] = value.strip()
    return out


def floats(text: str, option: str, labels: frozenset[str] = frozenset()) -> dict[str, float | str]:
    """Parse ``N=7e9,D=2e12`` into numbers; the columns in ``labels`` (group, task) keep their text."""
    out: dict[str, float | str] = {}
    for key, value in pairs(text, option).items():
        if key in labels:
            out[key] = value
            continue
        try:
            out[key] = float(value)
        except ValueError:
            named = f"; group labels go in {sorted(labels)}" if labels else ""
            raise SystemExit(f"error: {option} {key}={value!r} is not a number (write 7e9, not 7B){named}") from None
    return out


def label_columns(fit) -> frozenset[str]:
    """The columns of a saved fit whose values are labels: its grouping columns and its task column."""
    by = getattr(fit, "by", None)
    return frozenset(fit.levels) | ({by} if by else frozenset())


def show(frame: pd.DataFrame, digits: int = 4) -> str:
    """A table as text for the terminal, ``digits`` significant digits."""
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        return frame.to_string(float_format=lambda v: f"{v:.{digits}g}")
