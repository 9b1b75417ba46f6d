"""Save a Fit to one netCDF file and load it back exactly.

The file holds the DataTree's groups, the model's data columns (group ``hiermod_data``) and,
in the root attributes, the formula, family, priors, parameterization, sampler settings and
timings. Loading re-parses the formula and rebuilds the Design from the stored data, so every
report works on a loaded fit as on the original.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .errors import DataError
from .priors import Prior
from .sample import SamplerSettings

DATA_GROUP = "hiermod_data"
ROW_DIM = "row"
FORMAT_VERSION = 1


def priors_to_json(priors: dict[str, Prior]) -> str:
    return json.dumps({k: {"dist": p.dist, **p.kwargs} for k, p in priors.items()})


def priors_from_json(text: str) -> dict[str, Prior]:
    return {k: Prior(v.pop("dist"), **v) for k, v in json.loads(text).items()}


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


def save_fit(fit, path) -> None:
    tree = fit.idata.copy()
    tree[DATA_GROUP] = xr.DataTree(frame_to_dataset(fit.data))
    tree.attrs.update({
        "hiermod_format": FORMAT_VERSION,
        "formula": fit.spec.formula,
        "family": fit.spec.family,
        "priors": priors_to_json(fit.user_priors),
        "parameterization": fit.parameterization,
        "model_path": fit.model_path,
        "settings": json.dumps(asdict(fit.settings)),
        "timing": json.dumps(fit.timing),
        "dropped_rows": json.dumps([str(r) for r in fit.design.dropped_rows]),
    })
    tree.to_netcdf(Path(path), engine="h5netcdf")


def load_fit(path):
    """Read a Fit written by ``Fit.save``."""
    from .design import make_design
    from .fit import Fit
    from .spec.formula import parse_formula

    path = Path(path)
    if not path.is_file():
        raise DataError(f"no saved fit at '{path}'")
    tree = xr.open_datatree(path, engine="h5netcdf").load()
    attrs = dict(tree.attrs)
    if "hiermod_format" not in attrs:
        raise DataError(f"'{path}' is not a fit saved by hiermod (no 'hiermod_format' attribute)")
    frame = dataset_to_frame(tree[DATA_GROUP].to_dataset())
    spec = parse_formula(attrs["formula"], family=attrs["family"])
    design = make_design(spec, frame)
    groups = {f"/{name}": tree[name].to_dataset() for name in tree.children if name != DATA_GROUP}
    idata = xr.DataTree.from_dict(groups)
    return Fit(idata=idata, spec=spec, design=design, data=frame,
               user_priors=priors_from_json(attrs["priors"]),
               parameterization=attrs["parameterization"],
               settings=SamplerSettings(**json.loads(attrs["settings"])),
               timing=json.loads(attrs["timing"]),
               model_path=attrs.get("model_path", "explicit"))
