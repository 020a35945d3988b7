"""The mentorship model registry and its CLI."""

from __future__ import annotations

import dataclasses
import re

import pytest

from mentor_eval.cli import main
from mentor_eval.errors import StudyConfigError
from mentor_eval.models import (
    CONTROL_FORMAT,
    FORMATS,
    OUTCOME_FAMILIES,
    MentorshipModel,
    get_model,
    list_models,
    parse_model,
)

FIFTEEN = (
    "narrative_weaving", "reverse_shadowing", "legacy_project", "cultural_navigator", "storytelling_circles",
    "future_self_letter", "strength_spotlight", "advocacy_ally", "mindful_reflection",
    "intergenerational_exchange", "community_of_practice", "ethical_dilemmas", "crisis_navigation",
    "shared_vulnerability", "dream_weaver",
)

CUSTOM = {
    "key": "peer_pods",
    "name": "Peer Pods",
    "format": "group",
    "description": "Four mentees meet weekly with a near-peer mentor. They plan one outing a month.",
    "belonging_mechanism": "A stable small group becomes a home base.",
    "hope_mechanism": "Planning outings practises making and following plans.",
    "targets": ["belonging", "pathways"],
}


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def test_registry_holds_the_fifteen_models_and_control():
    keys = [m.key for m in list_models()]
    assert keys[0] == "control"
    assert sorted(keys[1:]) == sorted(FIFTEEN)
    assert len(set(keys)) == 16


@pytest.mark.parametrize("key", ("control", *FIFTEEN))
def test_every_model_has_complete_fields(key):
    m = get_model(key)
    assert isinstance(m, MentorshipModel)
    assert m.key == key and not m.custom
    assert isinstance(m.name, str) and len(m.name) >= 8
    for field in ("description", "belonging_mechanism", "hope_mechanism"):
        value = getattr(m, field)
        assert isinstance(value, str) and len(value) > 30, (key, field)
    assert len(_sentences(m.description)) == 2, m.description
    assert set(m.targets) <= set(OUTCOME_FAMILIES)
    if key == "control":
        assert m.format == CONTROL_FORMAT and m.targets == () and m.is_control
    else:
        assert m.format in FORMATS
        assert 1 <= len(m.targets) <= 3
        assert m.belonging_mechanism != m.hope_mechanism


def test_formats_follow_the_delivery_of_each_model():
    assert get_model("storytelling_circles").format == "group"
    assert get_model("community_of_practice").format == "community"
    legacy = get_model("legacy_project")
    assert legacy.format == "dyad"
    assert "small groups" in legacy.description  # the documented note about group delivery
    assert get_model("storytelling_circles").clustered_by_group
    assert not get_model("narrative_weaving").clustered_by_group


def test_models_are_frozen():
    m = get_model("dream_weaver")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.name = "x"  # type: ignore[misc]


def test_unknown_key_lists_every_allowed_key():
    with pytest.raises(StudyConfigError) as err:
        get_model("narative_weaving")
    msg = str(err.value)
    assert "'narative_weaving'" in msg
    for key in ("control", *FIFTEEN):
        assert key in msg


def test_custom_models_are_found_and_listed():
    custom = parse_model(CUSTOM, "models[0]")
    assert custom.custom and custom.targets == ("belonging", "pathways")
    assert get_model("peer_pods", [custom]) is custom
    assert get_model("peer_pods", {"peer_pods": custom}) is custom
    assert [m.key for m in list_models([custom])][-1] == "peer_pods"
    with pytest.raises(StudyConfigError, match="peer_pods"):
        get_model("nope", [custom])  # the custom key is among the allowed ones


@pytest.mark.parametrize(
    ("change", "where", "text"),
    [
        ({"format": "triad"}, "models[3].format", "must be one of dyad, group, community; got 'triad'"),
        ({"format": "none"}, "models[3].format", "must be one of dyad, group, community"),
        ({"targets": ["hope", "joy"]}, "models[3].targets[1]", "must be one of hope, agency, pathways, belonging"),
        ({"targets": ["hope", "hope"]}, "models[3].targets[1]", "listed twice"),
        ({"targets": "nonsense"}, "models[3].targets[0]", "got 'nonsense'"),
        ({"targets": 3}, "models[3].targets", "must be a list of outcome families"),
        ({"key": "Peer Pods"}, "models[3].key", "lower-case letters"),
        ({"key": "storytelling_circles"}, "models[3].key", "is a built-in model"),
        ({"hope_mechanism": None}, "models[3].hope_mechanism", "is required"),
        ({"name": 5}, "models[3].name", "must be non-empty text"),
        ({"colour": "red"}, "models[3].colour", "is not a known field"),
    ],
)
def test_custom_model_errors_name_the_key_path(change, where, text):
    raw = {**CUSTOM, **change}
    with pytest.raises(StudyConfigError) as err:
        parse_model(raw, "models[3]", "pilot.yaml")
    msg = str(err.value)
    assert msg.startswith("pilot.yaml: key ")
    assert f"'{where}'" in msg
    assert text in msg


def test_custom_model_must_be_a_mapping():
    with pytest.raises(StudyConfigError, match=r"key 'models\[0\]': must be a mapping"):
        parse_model(["peer_pods"], "models[0]")


def test_cli_models_list_and_show(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for key in FIFTEEN:
        assert key in out
    assert "community" in out and "group" in out

    assert main(["models", "show", "storytelling_circles"]) == 0
    out = capsys.readouterr().out
    m = get_model("storytelling_circles")
    assert "Storytelling Circles" in out and "belonging_mechanism" in out and "pathways" in out
    assert m.hope_mechanism.split()[0] in out

    assert main(["models", "show", "no_such_model"]) == 2
    assert "Allowed models" in capsys.readouterr().err


def test_cli_models_includes_a_studys_custom_models(capsys, data_dir):
    study = data_dir / "studies" / "custom_model" / "study.yaml"
    assert main(["models", "list", "--study", str(study)]) == 0
    assert "legacy_groups" in capsys.readouterr().out
    assert main(["models", "show", "legacy_groups", "--study", str(study)]) == 0
    out = capsys.readouterr().out
    assert "group" in out and "yes" in out  # custom: yes


# ----------------------------------------------------------------- fidelity declarations
@pytest.mark.parametrize("key", FIFTEEN)
def test_every_model_declares_typed_fidelity_indicators_with_an_expected_dose(key):
    from mentor_eval.models import INDICATOR_TYPES

    m = get_model(key)
    assert 2 <= len(m.fidelity) <= 3
    assert len({i.key for i in m.fidelity}) == len(m.fidelity)
    for ind in m.fidelity:
        assert ind.type in INDICATOR_TYPES and len(ind.label) > 5
        if ind.type == "count":
            assert ind.expected >= 1
        elif ind.type == "proportion":
            assert 0 < ind.expected <= 1
        else:
            assert ind.expected == 1
    # the primary indicator is the model's dose: sessions for dyads, meetings for groups
    prim = m.primary_indicator
    assert prim is m.fidelity[0] and prim.type == "count"
    assert prim.key == ("sessions_held" if m.format == "dyad" else prim.key)
    assert m.indicator(prim.key) is prim


def test_model_specific_indicators_name_what_delivering_the_model_means():
    assert get_model("control").fidelity == () and get_model("control").primary_indicator is None
    assert get_model("storytelling_circles").primary_indicator.key == "circles_attended"
    assert get_model("advocacy_ally").indicator("introductions_made").type == "count"
    assert get_model("crisis_navigation").indicator("contingency_plan").type == "boolean"
    with pytest.raises(StudyConfigError, match="has no fidelity indicator 'letters'.*sessions_held"):
        get_model("dream_weaver").indicator("letters")


def test_indicator_reached_compares_with_the_expected_dose_and_keeps_missing():
    import numpy as np

    ind = get_model("narrative_weaving").primary_indicator  # sessions_held >= 18
    got = ind.reached([17, 18, 24, None])
    assert got[:3].tolist() == [0.0, 1.0, 1.0] and np.isnan(got[3])


def test_custom_model_may_declare_fidelity_indicators():
    raw = {**CUSTOM, "fidelity": [
        {"key": "pod_meetings", "label": "pod meetings attended", "type": "count", "expected": 10},
        {"key": "outing_planned", "label": "outing planned", "type": "boolean", "expected": True},
    ]}
    m = parse_model(raw, "models[0]")
    assert [i.key for i in m.fidelity] == ["pod_meetings", "outing_planned"]
    assert m.fidelity[1].expected == 1.0
    assert parse_model(CUSTOM, "models[0]").fidelity == ()


@pytest.mark.parametrize(
    ("indicator", "path", "message"),
    [
        ({"type": "rate"}, "models[0].fidelity[0].type", "must be one of count, proportion, boolean"),
        ({"type": "proportion", "expected": 1.5}, "models[0].fidelity[0].expected", "in [0, 1]"),
        ({"type": "boolean", "expected": 2}, "models[0].fidelity[0].expected", "1 (true"),
        ({"expected": -1}, "models[0].fidelity[0].expected", ">= 0"),
        ({"expected": "many"}, "models[0].fidelity[0].expected", "must be a number"),
        ({"key": "Pod Meetings"}, "models[0].fidelity[0].key", "lower-case"),
        ({"label": None}, "models[0].fidelity[0].label", "is required"),
        ({"unit": "h"}, "models[0].fidelity[0].unit", "is not a known field"),
    ],
)
def test_bad_fidelity_declarations_name_the_key_path(indicator, path, message):
    base = {"key": "pod_meetings", "label": "pod meetings attended", "type": "count", "expected": 10}
    raw = {**CUSTOM, "fidelity": [{**base, **indicator}]}
    with pytest.raises(StudyConfigError) as err:
        parse_model(raw, "models[0]")
    assert f"key '{path}'" in str(err.value) and message in str(err.value)
