"""Privacy on ingest: identifying-column detection and keyed pseudonyms."""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd
import pytest

from mentor_eval.errors import StudyConfigError
from mentor_eval.privacy import detect_identifying_columns, pseudonymize


def test_detect_identifying_by_name_and_content():
    df = pd.DataFrame({
        "participant_id": ["p1", "p2"],
        "First Name": ["Ann", "Bo"],
        "contact": ["ann@example.org", "bo@example.org"],
        "mobile_or_not": ["+1 (555) 123-4567", "555-987-6543"],
        "zip": ["12345", "23456"],
        "why": ["I liked my mentor because she listened to me", "We met every week and it helped a lot"],
        "age": ["14", "15"],
        "code": ["1234567", "7654321"],
    })
    out = detect_identifying_columns(df, exclude=["participant_id"]).set_index("column")
    assert set(out.index) == {"First Name", "contact", "mobile_or_not", "zip", "why"}
    assert out.loc["contact", "by"] == "content" and "e-mail" in out.loc["contact", "reason"]
    assert out.loc["mobile_or_not", "reason"].startswith("name suggests a phone") or "phone" in out.loc[
        "mobile_or_not", "reason"]
    assert "free text" in out.loc["why", "reason"]


def test_pseudonymize_hmac_and_joins(monkeypatch):
    monkeypatch.setenv("MENTOR_EVAL_PSEUDONYM_KEY", "a-long-test-secret")
    a = pseudonymize(pd.DataFrame({"participant_id": ["p1", "p2", None]}), ["participant_id"])
    b = pseudonymize(pd.DataFrame({"participant_id": [" p1"]}), ["participant_id"])
    expected = hmac.new(b"a-long-test-secret", b"p1", hashlib.sha256).hexdigest()[:16]
    assert a["participant_id"].iloc[0] == expected == b["participant_id"].iloc[0]
    assert pd.isna(a["participant_id"].iloc[2])
    other = pseudonymize(pd.DataFrame({"participant_id": ["p1"]}), ["participant_id"], key="another-secret")
    assert other["participant_id"].iloc[0] != expected


def test_pseudonymize_without_key_fails(monkeypatch):
    monkeypatch.delenv("MENTOR_EVAL_PSEUDONYM_KEY", raising=False)
    with pytest.raises(StudyConfigError, match="MENTOR_EVAL_PSEUDONYM_KEY"):
        pseudonymize(pd.DataFrame({"participant_id": ["p1"]}), ["participant_id"])
