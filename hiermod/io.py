"""A fit's files: one netCDF file with the DataTree's groups, the model's data columns (group
``hiermod_data``) and, in the root attributes, everything needed to rebuild the fit (formula,
family, priors, parameterization, sampler settings, timings).

This module reads and writes the pieces; :func:`hiermod.load_fit` re-parses the formula and
rebuilds the Design from the stored data, so every report works on a loaded fit as on the
original.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .errors import DataError
from .priors import Prior

DATA_GROUP = "hiermod_data"
ROW_DIM = "row"
FORMAT_VERSION = 1
#: attributes stored as JSON text
JSON_ATTRS = ("priors", "settings", "timing", "dropped_rows")


def priors_to_json(priors: dict[str, Prior]) -> dict:
    return {k: {"dist": p.dist, **p.kwargs} for k, p in priors.items()}


def priors_from_json(entries: dict) -> dict[str, Prior]:
    return {k: Prior(v.pop("dist"), **v) for k, v in entries.items()}


def frame_to_dataset(frame: pd.DataFrame) -> xr.Dataset:
    data = {}
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            data[col] = ((ROW_DIM,), values.to_numpy())
        else:
            data[col] = ((ROW_DIM,), values.astype(str).to_numpy(dtype=object))
    ds = xr.Dataset(data, coords={ROW_DIM: np.asarray(frame.index)})
    ds.attrs["string_columns"] = json.dumps(
        [c for c in frame.columns if ds[c].dtype == object])
    return ds


def dataset_to_frame(ds: xr.Dataset) -> pd.DataFrame:
    strings = set(json.loads(ds.attrs.get("string_columns", "[]")))
    frame = pd.DataFrame({c: ds[c].values for c in ds.data_vars}, index=ds[ROW_DIM].values)
    for c in strings:
        frame[c] = frame[c].astype(str)
    return frame


def write_fit(path, idata: xr.DataTree, data: pd.DataFrame, attrs: dict) -> None:
    """Write the DataTree, the data columns and ``attrs`` (JSON-able values) to ``path``."""
    tree = idata.copy()
    tree[DATA_GROUP] = xr.DataTree(frame_to_dataset(data))
    tree.attrs.update({"hiermod_format": FORMAT_VERSION,
                       **{k: json.dumps(v) if k in JSON_ATTRS else v for k, v in attrs.items()}})
    tree.to_netcdf(Path(path), engine="h5netcdf")


def read_fit(path) -> tuple[xr.DataTree, pd.DataFrame, dict]:
    """(DataTree without the data group, data frame, attributes) of a file :func:`write_fit`
    wrote."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no saved fit at '{path}'")
    tree = xr.open_datatree(path, engine="h5netcdf").load()
    attrs = dict(tree.attrs)
    if "hiermod_format" not in attrs:
        raise DataError(f"'{path}' is not a fit saved by hiermod (no 'hiermod_format' attribute)")
    frame = dataset_to_frame(tree[DATA_GROUP].to_dataset())
    groups = {f"/{name}": tree[name].to_dataset() for name in tree.children if name != DATA_GROUP}
    attrs.update({k: json.loads(attrs[k]) for k in JSON_ATTRS if k in attrs})
    return xr.DataTree.from_dict(groups), frame, attrs
