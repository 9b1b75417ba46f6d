"""Labels of the plots, from explicit arguments first and the table itself second.

pandas drops ``DataFrame.attrs`` in many operations (``groupby``, ``merge``, a selection of
columns under some versions), so a plot never *needs* them: what it must know is an argument
(the interval probability, the grouping factor) or a part of the table (index names, columns).
``attrs`` are read only as a fallback, and where neither says, the label says less rather than
something wrong (an interval without a percentage, not a guessed "95%").
"""

from __future__ import annotations

import pandas as pd


def interval_prob(table: pd.DataFrame, prob: float | None) -> float | None:
    """The interval probability: the argument, else the table's ``attrs``, else None."""
    if prob is not None:
        return float(prob)
    value = table.attrs.get("interval_prob", table.attrs.get("prob"))
    return None if value is None else float(value)


def interval_label(table: pd.DataFrame, prob: float | None, what: str = "interval") -> str:
    """'95% interval', or 'interval' when the probability is not known."""
    p = interval_prob(table, prob)
    return what if p is None else f"{100 * p:g}% {what}"


def factor_name(table: pd.DataFrame, factor: str | None, level_name: str = "level") -> str | None:
    """The grouping factor: the argument, else the table's ``attrs``, else None.

    (A table indexed by (term, level) names its level index ``level``, not the factor.)
    """
    if factor is not None:
        return factor
    names = [n for n in table.index.names if n not in (None, "term", level_name)]
    return names[0] if names else table.attrs.get("factor")
