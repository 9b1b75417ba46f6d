"""Bundled data sets load offline with the quoted-is-factor convention."""

import pytest

import hiermod as hm
from hiermod.errors import DataError


def test_list_and_load():
    table = hm.datasets.list()
    assert set(table.index) == {"radon", "sleepstudy", "hsb82", "cbpp", "penicillin", "efficacy_sim",
                                "contraception", "orthodont", "bodyweight", "ovary", "dialyzer"}
    assert table.loc["hsb82", "rows"] == 7185 and table.loc["radon", "rows"] == 919
    hsb = hm.datasets.load("hsb82")
    assert hsb["school"].iloc[0] == "1224"  # quoted id stays a string (a factor)
    assert hsb["mAch"].dtype.kind == "f"
    cbpp = hm.datasets.load("cbpp")
    assert cbpp["herd"].iloc[0] == "1" and cbpp["period"].iloc[0] == "1"
    assert cbpp["size"].dtype.kind == "i"
    contra = hm.datasets.load("contraception")
    assert len(contra) == 1934 and contra["district"].nunique() == 60
    assert set(contra["use"]) == {"N", "Y"} and set(contra["livch"]) == {"0", "1", "2", "3+"}


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown data set 'nope'; bundled data sets: radon"):
        hm.datasets.load("nope")


def test_longitudinal_panels():
    """The four nlme panels (tests/reference/scripts/nlme_reference.R wrote them)."""
    table = hm.datasets.list()
    assert table.loc[["orthodont", "bodyweight", "ovary", "dialyzer"], "rows"].tolist() == \
        [108, 176, 308, 140]
    bw = hm.datasets.load("bodyweight")
    assert bw["Rat"].iloc[0] == "1" and bw["Diet"].iloc[0] == "1"  # quoted ids stay strings
    assert sorted(bw["Time"].unique()) == [1, 8, 15, 22, 29, 36, 43, 44, 50, 57, 64]
