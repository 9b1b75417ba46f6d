"""Recognising a Dask DataFrame and running work over its partitions (dask imported lazily).

The work of a pass is one function per partition and a pairwise merge of the results, as a
tree of ``dask.delayed`` calls: nothing but the per-partition results (sums over rows, a few
unique values) ever leaves a worker, and no rows are shuffled between them. The computation
runs on Dask's current scheduler: the active ``distributed.Client`` if there is one (a
``LocalCluster`` or a real cluster), else Dask's default for DataFrames (threads).
"""

from __future__ import annotations

from contextlib import contextmanager

from ..errors import HiermodError

#: how many results one merge task combines (a tree of depth log_FAN_IN(partitions))
FAN_IN = 8


def is_dask_frame(data) -> bool:
    """Whether ``data`` is a Dask DataFrame (checked without importing dask)."""
    module = type(data).__module__ or ""
    return (module.split(".")[0] == "dask" and hasattr(data, "npartitions")
            and hasattr(data, "to_delayed") and hasattr(data, "columns"))


def describe(ddf) -> str:
    return f"a Dask DataFrame of {ddf.npartitions} partition{'s' * (ddf.npartitions != 1)}"


@contextmanager
def in_partition(k: int):
    """Re-raise a hiermod error with the partition it happened in (row labels in a message are
    the partition's index labels)."""
    try:
        yield
    except HiermodError as exc:
        raise type(exc)(f"partition {k} of the Dask DataFrame (row labels are that partition's "
                        f"index): {exc}") from None


def map_partitions(ddf, fn, context, fan_in: int = FAN_IN, merge=None):
    """``fn(partition, k, context)`` for every partition k, computed on Dask's scheduler.

    Returns the list of results, or with ``merge`` their pairwise merge in partition order
    (``merge(left, right)``, applied as a tree).
    """
    import dask

    parts = ddf.to_delayed()
    ctx = dask.delayed(context, pure=True, traverse=False)
    task = dask.delayed(fn, pure=True)
    results = [task(p, k, ctx) for k, p in enumerate(parts)]
    if merge is None:
        return list(dask.compute(*results))
    combine = dask.delayed(_merge_all, pure=True)
    while len(results) > 1:
        results = [combine(merge, *results[i:i + fan_in])
                   for i in range(0, len(results), fan_in)]
    (out,) = dask.compute(results[0])
    return out


def _merge_all(merge, *parts):
    out = parts[0]
    for p in parts[1:]:
        out = merge(out, p)
    return out
