"""Property tests of the design stage (Hypothesis): random data frames — random dtypes, missing
values, labels, column names and indexes — either give a Design whose rows, levels and columns
match the data exactly, or raise a HiermodError; never another exception, never a silent
merge of labels.

The expected values are computed here from the data alone, independently of hiermod's code:
the rows kept are those without a missing value in the model's columns; a level label is the
text of a value (whole numbers without a decimal point); a numeric or bool predictor is one
column equal to its values, a text or categorical one a set of 0/1 columns, one per level but
the reference, that mark exactly the rows of that level.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hiermod as hm
from hiermod.errors import HiermodError

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
LABELS = st.one_of(
    st.integers(-3, 40), st.floats(-5, 5, allow_nan=False).map(lambda v: round(v, 2)),
    st.sampled_from(["a", "b", "ä", "日本", "", " ", "1", "01", "1.0", "x[y]", "NA"]), TEXT,
    st.booleans())
NAMES = st.sampled_from(["x", "größe", "x_1", "X", "sigma", "Intercept", "obs", "a.b"])


@st.composite
def column(draw, n: int, kind: str, missing: bool):
    """n values of one kind, with missing values at random when ``missing``."""
    if kind == "float":
        values = draw(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=n, max_size=n))
        if draw(st.integers(0, 4)) == 0:  # now and then one infinite or huge value
            values[draw(st.integers(0, n - 1))] = draw(st.sampled_from([np.inf, -np.inf, 1e200]))
        out = pd.Series(values, dtype=float)
    elif kind == "int":
        out = pd.Series(draw(st.lists(st.integers(-50, 50), min_size=n, max_size=n)))
    elif kind == "bool":
        out = pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    elif kind == "text":
        pool = draw(st.lists(TEXT, min_size=1, max_size=4, unique=True))
        out = pd.Series(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)),
                        dtype=object)
    elif kind == "number_text":
        pool = draw(st.lists(st.sampled_from(["1", "2", "3", "10", "0.5", "-1"]), min_size=1,
                             max_size=4, unique=True))
        out = pd.Series(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)),
                        dtype=object)
    elif kind in ("category", "ordered"):
        pool = draw(st.lists(st.sampled_from(["lo", "mid", "hi", "1", "2", "zz"]), min_size=1,
                             max_size=4, unique=True))
        values = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
        out = pd.Series(pd.Categorical(values, categories=pool + ["unused"],
                                       ordered=kind == "ordered"))
    elif kind == "labels":  # any mix: ints, floats, text, bools
        pool = draw(st.lists(LABELS, min_size=1, max_size=5))
        out = pd.Series(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)),
                        dtype=object)
    elif kind == "nullable_int":
        out = pd.Series(pd.array(draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n)),
                                 dtype="Int64"))
    elif kind == "string":
        out = pd.Series(draw(st.lists(st.sampled_from(["p", "q", "r"]), min_size=n,
                                      max_size=n)), dtype="string")
    elif kind == "dates":
        out = pd.Series(pd.date_range("2024-01-01", periods=n))
    else:
        raise AssertionError(kind)
    if missing:
        holes = draw(st.lists(st.sampled_from([False, False, False, True]), min_size=n,
                              max_size=n))
        out = out.astype(object) if kind in ("int", "bool") else out
        out[np.asarray(holes)] = None
    return out


PREDICTOR_KINDS = ["float", "int", "bool", "text", "number_text", "category", "ordered",
                   "labels", "nullable_int", "string", "dates"]
GROUP_KINDS = ["int", "text", "labels", "category", "float", "bool", "nullable_int"]
INDEXES = ["range", "duplicated", "text", "multi", "shuffled"]


def make_index(kind: str, n: int):
    if kind == "range":
        return pd.RangeIndex(n)
    if kind == "duplicated":
        return pd.Index([k // 2 for k in range(n)])
    if kind == "text":
        return pd.Index([f"r{k}" for k in range(n)])
    if kind == "multi":
        return pd.MultiIndex.from_arrays([[k % 2 for k in range(n)], range(n)])
    return pd.Index(np.random.default_rng(n).permutation(n) + 100)


@st.composite
def frames(draw):
    n = draw(st.integers(1, 30))
    xname = draw(st.sampled_from(["x"] * 6) | NAMES)
    holes = st.sampled_from([False, False, True])
    data = pd.DataFrame({
        "y": draw(column(n, draw(st.sampled_from(["float", "float", "int", "number_text"])),
                         draw(holes))),
        xname: draw(column(n, draw(st.sampled_from(PREDICTOR_KINDS)), draw(holes))),
        "g": draw(column(n, draw(st.sampled_from(GROUP_KINDS)), draw(holes))),
    })
    data.index = make_index(draw(st.sampled_from(INDEXES)), n)
    return data, xname, draw(st.sampled_from([True, True, False]))


def label(v) -> str:
    """The level label of a value, as documented: whole numbers without a decimal point."""
    if isinstance(v, (bool, np.bool_)) or isinstance(v, str):
        return str(v)
    if isinstance(v, (int, np.integer)) or float(v).is_integer():
        return str(int(v))
    return repr(float(v))


def check_design(d, data: pd.DataFrame, x: str, dropna: bool) -> None:
    """The Design matches the data exactly."""
    used = ["y", x, "g"]
    kept = ~data[used].isna().any(axis=1).to_numpy()
    assert dropna or kept.all()  # without dropna, missing values must have raised
    assert d.n_obs == kept.sum() == len(d.frame)
    assert d.frame.index.equals(data.index[kept])
    np.testing.assert_array_equal(d.y, pd.to_numeric(data["y"][kept].astype(object)).to_numpy(
        dtype=float))
    # levels: one per distinct value, each row mapped to its own value's label
    g = data["g"][kept]
    fd = d.factors[0]
    values = list(g.astype(object))
    assert fd.n_levels == len(set(label(v) for v in values)) == g.nunique()
    assert [fd.levels[j] for j in fd.index] == [label(v) for v in values]
    # the predictor's columns
    xs = data[x][kept]
    terms = [t for t in d.fixed_terms if t != "Intercept"]
    if all(isinstance(v, numbers.Real) for v in xs.astype(object)):  # numbers and bools
        assert not isinstance(xs.dtype, pd.CategoricalDtype)
        assert terms == [x]
        np.testing.assert_array_equal(d.X[:, d.fixed_terms.index(x)],
                                      pd.to_numeric(xs.astype(object)).to_numpy(dtype=float))
    else:
        labels = xs.astype(str).to_numpy()
        levels = set(labels)
        assert len(terms) == len(levels) - 1 and all(t.startswith(f"{x}[") for t in terms)
        for t in terms:
            lvl = t[len(x) + 1:-1]
            assert lvl in levels
            np.testing.assert_array_equal(d.X[:, d.fixed_terms.index(t)], labels == lvl)
    assert np.isfinite(d.X).all() and np.isfinite(d.y).all()


@SETTINGS
@given(frames())
def test_random_frames_give_an_exact_design_or_a_hiermod_error(case):
    data, x, dropna = case
    spec = hm.parse_formula(f"y ~ {x} + (1 | g)") if x not in ("a.b",) else None
    if spec is None:  # 'a.b' reads as attribute access: refused by the parser
        with pytest.raises(HiermodError):
            hm.parse_formula(f"y ~ {x} + (1 | g)")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            d = hm.make_design(spec, data, dropna=dropna)
        except HiermodError:
            return
    check_design(d, data, x, dropna)


@st.composite
def valid_frames(draw):
    """Frames hiermod must accept: 3–6 groups of 3–5 rows, a predictor of a plain kind with
    two or more values, no missing or extreme values."""
    sizes = draw(st.lists(st.integers(3, 5), min_size=3, max_size=6))
    n = sum(sizes)
    pool = draw(st.lists(LABELS, min_size=len(sizes), max_size=len(sizes), unique_by=label))
    g = pd.Series(np.repeat(np.array(pool, dtype=object), sizes), dtype=object)
    kind = draw(st.sampled_from(["float", "int", "bool", "text", "category", "ordered"]))
    if kind == "float":
        x = pd.Series(draw(st.lists(st.floats(-100, 100), min_size=n, max_size=n)))
    else:
        x = draw(column(n, kind, False))
    assume_two = x.nunique() >= 2
    y = pd.Series(draw(st.lists(st.floats(-50, 50), min_size=n, max_size=n)))
    data = pd.DataFrame({"y": y, "x": x, "g": g})
    data.index = make_index(draw(st.sampled_from(INDEXES)), n)
    return data, assume_two


@SETTINGS
@given(valid_frames())
def test_valid_frames_always_give_the_exact_design(case):
    data, two_values = case
    if not two_values or data["y"].nunique() < 2:
        return
    kinds = {type(v) if not isinstance(v, (int, float)) or isinstance(v, bool) else float
             for v in data["g"]}
    spec = hm.parse_formula("y ~ x + (1 | g)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(kinds) > 1:  # labels of mixed types: refused, never merged
            with pytest.raises(HiermodError, match="mixes types"):
                hm.make_design(spec, data)
            return
        d = hm.make_design(spec, data)
    check_design(d, data, "x", False)
