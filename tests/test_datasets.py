"""Bundled data sets load offline with the quoted-is-factor convention."""

import pytest

import hiermod as hm
from hiermod.errors import DataError


def test_list_and_load():
    table = hm.datasets.list()
    assert set(table.index) == {"radon", "sleepstudy", "hsb82", "cbpp", "penicillin", "efficacy_sim",
                                 "contraception"}
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
