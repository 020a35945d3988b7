"""Answer-label mapping: labels and numeric text to codes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mentor_eval.instruments import load_instrument
from mentor_eval.labels import label_codes, map_labels, normalize_label


def test_labels_case_and_space_insensitive():
    ahs = load_instrument("adult_hope_scale")
    m = map_labels(pd.Series([" definitely TRUE ", "Mostly  false", "3", None, "NA", "maybe"]), ahs)
    assert m.codes[:3].tolist() == [8.0, 2.0, 3.0]
    assert np.isnan(m.codes[3:]).all()
    assert m.failed.tolist() == [False, False, False, False, False, True]
    assert m.n_labelled == 2
    assert normalize_label("  Definitely\tTRUE ") == "definitely true"
    assert label_codes(ahs.with_form("4-point"))["mostly true"] == 3


def test_labels_numbers_pass_through_for_later_rules():
    m = map_labels(pd.Series(["2.5", "-9", "1e1"]))
    assert m.codes.tolist() == [2.5, -9.0, 10.0] and not m.failed.any()
