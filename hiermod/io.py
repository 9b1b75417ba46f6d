"""A fit's files: one netCDF file with the DataTree's groups, the model's data columns (group
``hiermod_data``) and, in the root attributes, everything needed to rebuild the fit (formula,
family, priors, parameterization, sampler settings, timings).

This module reads and writes the pieces; :func:`hiermod.load_fit` re-parses the formula and
rebuilds the Design from the stored data, so every report works on a loaded fit as on the
original.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .errors import FileError, RowsNotHeldError
from .priors import Prior

DATA_GROUP = "hiermod_data"
ROW_DIM = "row"
FORMAT_VERSION = 2
#: attributes stored as JSON text
JSON_ATTRS = ("priors", "settings", "timing", "dropped_rows")


def priors_to_json(priors: dict[str, Prior]) -> dict:
    return {k: {"dist": p.dist, **p.kwargs} for k, p in priors.items()}


def priors_from_json(entries: dict) -> dict[str, Prior]:
    return {k: Prior(v.pop("dist"), **v) for k, v in entries.items()}


# --- the data columns and the index -----------------------------------------------------------
#
# Every column is stored under a plain variable name (column_0, column_1, ...) with its name and
# type in the attribute "columns", so that any column name (unicode, '/', an integer) and any of
# the kinds a Design accepts round-trip exactly: numbers and bools as themselves, text and the
# categories of a Categorical as one JSON string per value (exact for every string, NUL and
# lone surrogates included). The index is stored level by level the same way ("index"
# attribute), so duplicated labels, a MultiIndex and its names come back as they were.


def _json_values(values) -> np.ndarray:
    return np.array([json.dumps(_plain(v)) for v in values], dtype=object)


def _plain(v):
    """A JSON-able Python value for a label (numpy scalars as Python ones, NA as None)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (str, int, float, bool)):
        return v
    raise TypeError(type(v).__name__)


def _encode(values: pd.Index | pd.Series, as_text: bool = False) -> tuple[np.ndarray, dict]:
    """(stored array, how to decode it) for one column or index level. Labels of a type
    with no exact encoding (Period, Interval, tuples) are saved as their text when
    ``as_text``, else refused."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = np.asarray(values.cat.codes if isinstance(values, pd.Series) else values.codes)
        return codes.astype(np.int64), {
            "kind": "category", "ordered": bool(dtype.ordered),
            "categories": [_plain(c) for c in dtype.categories]}
    if dtype.kind in "biuf" and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return np.asarray(values), {"kind": "values", "dtype": str(dtype)}
    if dtype.kind == "M":
        stamps = pd.DatetimeIndex(values)
        return stamps.as_unit("ns").asi8, {"kind": "datetime", "unit": stamps.unit,
                                           "tz": None if stamps.tz is None else str(stamps.tz),
                                           "freq": getattr(values, "freqstr", None)}
    try:
        return _json_values(values), {"kind": "json", "dtype": str(dtype)}
    except TypeError as exc:
        if not as_text:
            raise FileError(f"cannot save values of type {exc}: convert them to numbers or "
                            "text first") from None
    warnings.warn(f"index labels of type {dtype} are saved as their text", UserWarning,
                  stacklevel=4)
    return _json_values([str(v) for v in values]), {"kind": "json", "dtype": "object"}


def _decode(stored: np.ndarray, how: dict) -> pd.Index:
    kind = how["kind"]
    if kind == "category":
        return pd.Index(pd.Categorical.from_codes(stored.astype(np.int64), how["categories"],
                                                  ordered=how["ordered"]))
    if kind == "values":
        return pd.Index(stored.astype(how["dtype"]), dtype=how["dtype"])
    if kind == "datetime":
        stamps = pd.to_datetime(stored.astype(np.int64), unit="ns", utc=how["tz"] is not None)
        stamps = stamps if how["tz"] is None else stamps.tz_convert(how["tz"])
        return pd.DatetimeIndex(stamps, freq=how.get("freq")).as_unit(how["unit"])
    values = [json.loads(v) for v in stored]
    dtype = how.get("dtype", "object")
    return pd.Index(values, dtype=object if dtype == "object" else dtype, tupleize_cols=False)


def frame_to_dataset(frame: pd.DataFrame) -> xr.Dataset:
    """The columns and the index of ``frame`` as variables along ``row`` (see above)."""
    data, columns, levels = {}, [], []
    for k, col in enumerate(frame.columns):
        stored, how = _encode(frame.iloc[:, k])
        data[f"column_{k}"] = ((ROW_DIM,), stored)
        columns.append({"name": _plain(col), **how})
    index = frame.index
    if isinstance(index, pd.RangeIndex):
        index_how = {"kind": "range", "start": index.start, "stop": index.stop,
                     "step": index.step, "name": _plain(index.name)}
    else:
        for j in range(index.nlevels):
            stored, how = _encode(index.get_level_values(j), as_text=True)
            data[f"index_{j}"] = ((ROW_DIM,), stored)
            levels.append(how)
        index_how = {"kind": "levels", "levels": levels,
                     "names": [_plain(n) for n in index.names]}
    ds = xr.Dataset(data, coords={ROW_DIM: np.arange(len(frame))})
    ds.attrs["columns"] = json.dumps(columns)
    ds.attrs["column_names_dtype"] = str(frame.columns.dtype)
    ds.attrs["index"] = json.dumps(index_how)
    return ds


def dataset_to_frame(ds: xr.Dataset) -> pd.DataFrame:
    """The frame :func:`frame_to_dataset` stored, column types and index as they were."""
    if "columns" not in ds.attrs:  # format 1: values as they were, text in string_columns
        strings = set(json.loads(ds.attrs.get("string_columns", "[]")))
        frame = pd.DataFrame({c: ds[c].values for c in ds.data_vars}, index=ds[ROW_DIM].values)
        for c in strings:
            frame[c] = frame[c].astype(str)
        return frame
    columns = json.loads(ds.attrs["columns"])
    index_how = json.loads(ds.attrs["index"])
    if index_how["kind"] == "range":
        index = pd.RangeIndex(index_how["start"], index_how["stop"], index_how["step"],
                              name=index_how["name"])
    else:
        parts = [_decode(ds[f"index_{j}"].values, how)
                 for j, how in enumerate(index_how["levels"])]
        if len(parts) == 1:
            index = parts[0].rename(index_how["names"][0])
        else:
            index = pd.MultiIndex.from_arrays(parts, names=index_how["names"])
    cols = {}
    for k, how in enumerate(columns):
        cols[k] = pd.Series(_decode(ds[f"column_{k}"].values, how), index=index)
    frame = pd.DataFrame(cols, index=index)
    names_dtype = ds.attrs.get("column_names_dtype", "object")
    frame.columns = pd.Index([c["name"] for c in columns], tupleize_cols=False,
                             dtype=object if names_dtype == "object" else names_dtype)
    return frame


# --- the file -------------------------------------------------------------------------------


def check_target(path: Path) -> None:
    """A path a fit can be written to: not a folder, in a folder that exists."""
    if path.is_dir():
        raise FileError(f"'{path}' is a folder: give a file name, e.g. '{path / 'fit.nc'}'")
    if not path.parent.is_dir():
        raise FileError(f"cannot save to '{path}': the folder '{path.parent}' does not exist "
                        "(create it first)")


def write_fit(path, idata: xr.DataTree, data: pd.DataFrame, attrs: dict) -> None:
    """Write the DataTree, the data columns and ``attrs`` (JSON-able values) to ``path``.

    The file is written next to ``path`` under a temporary name and moved into place, so an
    interrupted save never leaves a truncated file, and a file that is being read is not
    overwritten while open.
    """
    if data is None:
        raise RowsNotHeldError(
            "this fit was made from data summed partition by partition (a Dask DataFrame) and "
            "keeps no rows, which a fit file holds so that load_fit can rebuild the model: "
            "save the posterior alone with fit.idata.to_netcdf(path)")
    path = Path(path)
    check_target(path)
    tree = idata.copy()
    tree[DATA_GROUP] = xr.DataTree(frame_to_dataset(data))
    tree.attrs.update({"hiermod_format": FORMAT_VERSION,
                       **{k: json.dumps(v) if k in JSON_ATTRS else v for k, v in attrs.items()}})
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        tree.to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, path)
    except (OSError, ValueError, TypeError, UnicodeError) as exc:
        raise FileError(f"cannot write the fit to '{path}': {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


#: the root attributes every fit file has
REQUIRED_ATTRS = ("formula", "family", "priors", "parameterization", "settings", "timing")


def read_fit(path) -> tuple[xr.DataTree, pd.DataFrame, dict]:
    """(DataTree without the data group, data frame, attributes) of a file :func:`write_fit`
    wrote; the file is closed on return.

    Raises
    ------
    FileError
        No such file, or a file that is empty, truncated, not netCDF, not written by hiermod
        or written by a newer version of it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileError(f"no saved fit at '{path}'")
    try:
        with xr.open_datatree(path, engine="h5netcdf") as opened:
            tree = opened.load()
    except Exception as exc:  # noqa: BLE001 - h5py / netCDF raise many types for a bad file
        raise FileError(f"'{path}' is not a readable fit file (empty, truncated or another "
                        f"format: {type(exc).__name__})") from None
    attrs = dict(tree.attrs)
    if "hiermod_format" not in attrs:
        raise FileError(f"'{path}' is not a fit saved by hiermod (no 'hiermod_format' attribute)")
    if int(attrs["hiermod_format"]) > FORMAT_VERSION:
        raise FileError(f"'{path}' was saved by a newer hiermod (file format "
                        f"{attrs['hiermod_format']}, this version reads up to {FORMAT_VERSION})")
    missing = [k for k in REQUIRED_ATTRS if k not in attrs]
    if missing or DATA_GROUP not in tree.children or "posterior" not in tree.children:
        raise FileError(f"'{path}' is an incomplete fit file (missing "
                        f"{', '.join(missing) or 'groups'})")
    try:
        frame = dataset_to_frame(tree[DATA_GROUP].to_dataset())
        attrs.update({k: json.loads(attrs[k]) for k in JSON_ATTRS if k in attrs})
    except (KeyError, ValueError, TypeError) as exc:
        raise FileError(f"'{path}': its data group cannot be read ({type(exc).__name__})") from None
    groups = {f"/{name}": tree[name].to_dataset() for name in tree.children if name != DATA_GROUP}
    return xr.DataTree.from_dict(groups), frame, attrs
