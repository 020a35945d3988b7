"""The mentorship models an evaluation's arms implement.

Every arm of a study maps to one *mentorship model*: one of the fifteen program designs
below, ``control`` (no mentoring, waitlist or business as usual), or a custom model the
study declares in its ``models:`` list. A model names its delivery ``format`` (which
decides how participants cluster: mentees within mentors for dyads, within groups for
group and community formats), the mechanism through which it is meant to raise
belonging and hope, and the outcome families it is expected to move (``targets``).

Descriptions and mechanisms are written in this project's own words from the practice
literature summarised in the project's reference notes.

Format choices
--------------
``control`` has format ``"none"``: its participants have no mentor and no group, so they
form no cluster below the site. Custom models must use one of the three real formats.
``legacy_project`` is registered as ``"dyad"``: a mentor and mentee build the project
together. Programs often run it in small groups; such a study should declare a custom
model (for example ``legacy_project_group`` with ``format: group``) so that the analysis
treats the group as the cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mentor_eval.errors import StudyConfigError

__all__ = [
    "FORMATS",
    "CONTROL_FORMAT",
    "OUTCOME_FAMILIES",
    "INDICATOR_TYPES",
    "FidelityIndicator",
    "MentorshipModel",
    "get_model",
    "list_models",
    "parse_model",
    "parse_indicators",
]

FORMATS = ("dyad", "group", "community")
CONTROL_FORMAT = "none"  # the control condition has no mentor and no group
OUTCOME_FAMILIES = ("hope", "agency", "pathways", "belonging")
_MODEL_FIELDS = (
    "key", "name", "format", "description", "belonging_mechanism", "hope_mechanism", "targets",
)
_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
INDICATOR_TYPES = ("count", "proportion", "boolean")
_INDICATOR_FIELDS = ("key", "label", "type", "expected")


@dataclass(frozen=True)
class FidelityIndicator:
    """One implementation indicator: what delivering a model means, and how much is enough.

    Attributes
    ----------
    key : str
        Identifier used in ``study.yaml`` under ``fidelity:`` (lower case, digits, underscores).
    label : str
        Plain-language name shown in reports ("stories shared").
    type : str
        ``"count"`` (a whole number >= 0, e.g. sessions held), ``"proportion"`` (a share in
        [0, 1], e.g. share of sessions that included the exercise) or ``"boolean"`` (done or
        not, recorded as 0/1 or true/false, e.g. contingency plan written).
    expected : float
        The expected dose: a participant *reaches* it when the value is >= ``expected``
        (for booleans ``expected`` is 1: the thing was done).
    """

    key: str
    label: str
    type: str
    expected: float

    def reached(self, values: Any) -> Any:
        """Element-wise ``values >= expected`` (NaN where a value is missing)."""
        import numpy as np

        v = np.asarray(values, dtype=float)
        out = np.where(np.isnan(v), np.nan, (v >= self.expected - 1e-12).astype(float))
        return out

    def as_dict(self) -> dict[str, Any]:
        """All fields as plain Python values."""
        return {"key": self.key, "label": self.label, "type": self.type, "expected": self.expected}


def _fi(key: str, label: str, type_: str, expected: float) -> FidelityIndicator:
    return FidelityIndicator(key, label, type_, float(expected))


# Expected doses follow the delivery plans the simulator assumes (24 fortnightly dyad
# sessions, 12 group or community meetings): reaching three quarters of the plan counts as
# receiving the model. Model-specific indicators say what makes a session *this* model.
_DYAD_SESSIONS = _fi("sessions_held", "mentoring sessions held", "count", 18)
_FIDELITY: dict[str, tuple[FidelityIndicator, ...]] = {
    "control": (),
    "narrative_weaving": (_DYAD_SESSIONS, _fi("stories_shared", "life stories exchanged", "count", 6)),
    "reverse_shadowing": (_DYAD_SESSIONS, _fi("shadowing_days", "shadowing days (both directions)", "count", 4)),
    "legacy_project": (_DYAD_SESSIONS, _fi("project_completed", "legacy project completed", "boolean", 1)),
    "cultural_navigator": (_DYAD_SESSIONS,
                           _fi("norms_topics_covered", "share of unwritten-rules topics covered", "proportion", 0.8)),
    "storytelling_circles": (_fi("circles_attended", "story circles attended", "count", 9),
                             _fi("stories_shared", "own stories told in the circle", "count", 3)),
    "future_self_letter": (_DYAD_SESSIONS, _fi("letters_written", "future-self letter written and exchanged",
                                               "boolean", 1),
                           _fi("letters_revisited", "times the letters were revisited", "count", 2)),
    "strength_spotlight": (_DYAD_SESSIONS, _fi("strengths_used", "chances arranged to use a named strength",
                                               "count", 4)),
    "advocacy_ally": (_DYAD_SESSIONS, _fi("introductions_made", "introductions or recommendations made by the mentor",
                                          "count", 3)),
    "mindful_reflection": (_DYAD_SESSIONS, _fi("practice_share", "share of sessions with a mindfulness exercise",
                                               "proportion", 0.75)),
    "intergenerational_exchange": (_DYAD_SESSIONS, _fi("reciprocal_share", "share of sessions in which the younger "
                                                       "partner taught", "proportion", 0.4)),
    "community_of_practice": (_fi("gatherings_attended", "community gatherings attended", "count", 9),
                              _fi("resources_shared", "resources contributed to the community", "count", 2)),
    "ethical_dilemmas": (_DYAD_SESSIONS, _fi("dilemmas_discussed", "ethical dilemmas discussed", "count", 6)),
    "crisis_navigation": (_DYAD_SESSIONS, _fi("contingency_plan", "contingency plan written", "boolean", 1)),
    "shared_vulnerability": (_DYAD_SESSIONS, _fi("mentor_disclosures", "setbacks the mentor shared", "count", 3)),
    "dream_weaver": (_DYAD_SESSIONS, _fi("first_steps_taken", "first steps toward a dream taken", "count", 3)),
}


@dataclass(frozen=True)
class MentorshipModel:
    """A mentorship program design.

    Attributes
    ----------
    key : str
        Identifier used in ``study.yaml`` (lower case, digits, underscores).
    name : str
        Human-readable name shown in reports.
    format : str
        ``"dyad"`` (one mentor, one mentee), ``"group"`` (a facilitator with a small group of
        mentees) or ``"community"`` (many mentors and mentees learning together); ``"none"``
        for ``control`` only (no mentor, no group).
    description : str
        What happens in the program, in two sentences.
    belonging_mechanism, hope_mechanism : str
        How the program is meant to raise belonging and hope.
    targets : tuple of str
        Outcome families the model is expected to move most, a subset of
        ``("hope", "agency", "pathways", "belonging")``; ``"hope"`` means both hope components.
    custom : bool
        True for a model declared by a study rather than shipped with mentor-eval.
    fidelity : tuple of FidelityIndicator
        Implementation indicators: what delivering the model means, each with a type and an
        expected dose. The first is the model's *primary* indicator (its dose: sessions held
        for dyads, meetings attended for group and community formats), used by default for
        dose-response and for the compliance rule of the complier effect. ``control`` has none.
    """

    key: str
    name: str
    format: str
    description: str
    belonging_mechanism: str
    hope_mechanism: str
    targets: tuple[str, ...]
    custom: bool = False
    fidelity: tuple[FidelityIndicator, ...] = ()

    @property
    def primary_indicator(self) -> FidelityIndicator | None:
        """The model's dose indicator (its first fidelity indicator), None when it declares none."""
        return self.fidelity[0] if self.fidelity else None

    def indicator(self, key: str) -> FidelityIndicator:
        """Look up one fidelity indicator by key.

        Raises
        ------
        StudyConfigError
            If the model does not declare it; the message lists the ones it does.
        """
        for ind in self.fidelity:
            if ind.key == key:
                return ind
        have = ", ".join(i.key for i in self.fidelity) or "none"
        raise StudyConfigError(f"Mentorship model {self.key!r} has no fidelity indicator {key!r}; "
                               f"it declares: {have}.")

    @property
    def is_control(self) -> bool:
        """True for the no-mentoring comparison condition."""
        return self.key == "control"

    @property
    def clustered_by_group(self) -> bool:
        """True when mentees share a group (group and community formats)."""
        return self.format in ("group", "community")

    def as_dict(self) -> dict[str, Any]:
        """All fields as plain Python values (targets as a list)."""
        return {
            "key": self.key, "name": self.name, "format": self.format,
            "description": self.description, "belonging_mechanism": self.belonging_mechanism,
            "hope_mechanism": self.hope_mechanism, "targets": list(self.targets), "custom": self.custom,
        }


def _m(key: str, name: str, fmt: str, description: str, belonging: str, hope: str,
       targets: tuple[str, ...]) -> MentorshipModel:
    return MentorshipModel(key, name, fmt, description, belonging, hope, targets, False, _FIDELITY[key])


_BUILTIN: tuple[MentorshipModel, ...] = (
    _m("control", "Control (no mentoring)", "none",
       "Participants receive no mentoring during the study: a waitlist, business as usual or an "
       "unrelated activity. It is the comparison condition against which every model is judged.",
       "None intended; whatever belonging participants build elsewhere.",
       "None intended; whatever hope participants build elsewhere.",
       ()),
    _m("narrative_weaving", "Narrative Weaving", "dyad",
       "Mentor and mentee trade stories about where they have been, what they face now and where they "
       "hope to go. Rather than setting goals, they search the stories for threads and values they share.",
       "Finding common experience makes the mentee feel less alone and builds mutual empathy.",
       "Retelling obstacles that were already overcome reveals routes forward from the current ones.",
       ("belonging", "pathways")),
    _m("reverse_shadowing", "Reverse Shadowing", "dyad",
       "The mentee accompanies the mentor beyond work, into community life and personal projects, and the "
       "mentor joins activities typical of the mentee's stage of life. Each partner sees how the other "
       "lives day to day.",
       "Seeing each other's worlds flattens the hierarchy between mentor and mentee.",
       "Watching how the mentor actually copes gives the mentee concrete strategies to borrow.",
       ("belonging", "pathways")),
    _m("legacy_project", "Legacy Project", "dyad",
       "The pair creates something meant to outlast the match, such as a community initiative, a guide "
       "for future mentees or work for a cause. Often delivered in small groups; declare a custom model "
       "with format 'group' when it is.",
       "Working toward a shared purpose ties the mentee to a wider community.",
       "Visible, lasting results show the mentee that their effort changes things.",
       ("belonging", "agency")),
    _m("cultural_navigator", "Cultural Navigator", "dyad",
       "A mentor from the mentee's own cultural or minority background decodes the unwritten rules, norms "
       "and power relations of a school, workplace or new country. Sensitive topics can be raised in a "
       "safe setting.",
       "Having one's lived experience recognised affirms identity and a rightful place.",
       "Tactics for working around systemic barriers strengthen the sense of control over one's path.",
       ("belonging", "agency")),
    _m("storytelling_circles", "Storytelling Circles", "group",
       "A mentor leads regular structured sessions in which a small group of mentees, and the mentor too, "
       "share setbacks, successes and lessons. The group, not the pair, is the unit of the program.",
       "A shared group story and support from peers create a sense of membership.",
       "Hearing many different routes through hardship makes success seem reachable.",
       ("belonging", "pathways")),
    _m("future_self_letter", "Future Self Letter", "dyad",
       "Mentor and mentee each write to themselves one, three or five years ahead about hopes, fears and "
       "expected achievements. They exchange the letters and return to them later in the match.",
       "Being open about hopes and fears deepens trust and a shared picture of growth.",
       "Writing to a future self sharpens goals, commitment and a record of progress.",
       ("hope", "agency")),
    _m("strength_spotlight", "Strength-Based Spotlight", "dyad",
       "The mentor identifies what the mentee already does well, gives precise feedback on it and arranges "
       "chances to use it. Small wins are noticed and celebrated.",
       "Being noticed and valued raises self-worth and confidence in belonging.",
       "Attention shifts from what is lacking to what the mentee can already do.",
       ("agency", "belonging")),
    _m("advocacy_ally", "Advocacy Ally", "dyad",
       "Besides advising, the mentor actively sponsors the mentee through introductions, recommendations "
       "and speaking up on their behalf. The mentor spends their own standing on the mentee's behalf.",
       "Having a champion secures a place in a professional or academic community.",
       "Opened doors lead to opportunities that would otherwise be out of reach.",
       ("belonging", "pathways")),
    _m("mindful_reflection", "Mindful Reflection", "dyad",
       "Sessions include mindfulness and self-compassion practices that name emotions and soften "
       "self-criticism. The mentor models a kind, accepting stance toward setbacks.",
       "Self-acceptance gives an inner sense of belonging and eases pressure to conform.",
       "Skills for handling stress and setbacks keep optimism going.",
       ("agency", "belonging")),
    _m("intergenerational_exchange", "Intergenerational Skill Share", "dyad",
       "Learning flows in both directions: the older partner offers field experience, the younger offers, "
       "for example, digital skills. Both are teacher and learner.",
       "Valuing each partner's contribution breaks down age hierarchies.",
       "Both partners practise a growth mindset by learning something new.",
       ("belonging", "hope")),
    _m("community_of_practice", "Community of Practice", "community",
       "Many mentors and mentees form one learning community that shares resources through workshops, "
       "forums and informal meetings. Support comes from the network rather than a single pair.",
       "A collective identity and a wide support network extend belonging beyond one relationship.",
       "Many viewpoints and problem-solving approaches make challenges look surmountable.",
       ("belonging", "pathways")),
    _m("ethical_dilemmas", "Ethical Dilemma Discussion", "dyad",
       "The pair works through real ethical dilemmas from the field or from daily life, weighing different "
       "perspectives and lines of moral reasoning. The mentor shares how they have decided in the past.",
       "Trust and shared values make the mentee part of an ethical community.",
       "Reasoning through hard choices builds confidence in one's own decisions.",
       ("agency", "belonging")),
    _m("crisis_navigation", "Crisis Navigation", "dyad",
       "The mentor raises possible future crises, such as job loss, setbacks or difficult transitions, "
       "before they happen. Together they draft contingency plans and build resilience.",
       "Support that holds in bad times as in good shows the relationship is unconditional.",
       "Fear of the unknown turns into preparedness and a sense of control.",
       ("agency", "pathways")),
    _m("shared_vulnerability", "Shared Vulnerability", "dyad",
       "The mentor deliberately and appropriately shares their own failures and doubts, modelling "
       "authenticity. The mentee learns that setbacks are part of every path.",
       "Common imperfection removes the pressure to appear flawless and builds closeness.",
       "Setbacks come to be read as lessons rather than as endings.",
       ("belonging", "hope")),
    _m("dream_weaver", "Dream Weaver", "dyad",
       "The mentor invites the mentee to say their most ambitious dreams out loud. Together they then plan "
       "the first small, concrete steps toward them.",
       "Being understood in one's deepest aspirations creates a strong bond.",
       "Linking today's small steps to an inspiring future fuels motivation.",
       ("agency", "pathways")),
)
_BY_KEY: dict[str, MentorshipModel] = {m.key: m for m in _BUILTIN}


def _custom_map(custom: Iterable[MentorshipModel] | Mapping[str, MentorshipModel] | None,
                ) -> dict[str, MentorshipModel]:
    if custom is None:
        return {}
    values = custom.values() if isinstance(custom, Mapping) else custom
    return {m.key: m for m in values}


def list_models(custom: Iterable[MentorshipModel] | Mapping[str, MentorshipModel] | None = None,
                ) -> list[MentorshipModel]:
    """All known models: ``control``, the fifteen built-in models, then ``custom`` ones.

    Parameters
    ----------
    custom : iterable of MentorshipModel, optional
        Models declared by a study (see :func:`mentor_eval.study.load_study`).

    Returns
    -------
    list of MentorshipModel

    Examples
    --------
    >>> len(list_models())
    16
    """
    out = list(_BUILTIN)
    out.extend(m for k, m in _custom_map(custom).items() if k not in _BY_KEY)
    return out


def get_model(key: str,
              custom: Iterable[MentorshipModel] | Mapping[str, MentorshipModel] | None = None,
              ) -> MentorshipModel:
    """Look up a model by key among the built-in models and ``custom`` ones.

    Parameters
    ----------
    key : str
        A model key such as ``"storytelling_circles"`` or ``"control"``.
    custom : iterable of MentorshipModel, optional
        Study-declared models, searched after the built-in ones.

    Returns
    -------
    MentorshipModel

    Raises
    ------
    StudyConfigError
        If the key is unknown; the message lists every allowed key.

    Examples
    --------
    >>> get_model("storytelling_circles").format
    'group'
    """
    if isinstance(key, str) and key in _BY_KEY:
        return _BY_KEY[key]
    extra = _custom_map(custom)
    if isinstance(key, str) and key in extra:
        return extra[key]
    allowed = ", ".join([*_BY_KEY, *[k for k in extra if k not in _BY_KEY]])
    raise StudyConfigError(f"Unknown mentorship model {key!r}. Allowed models: {allowed}.")


def parse_model(raw: Any, where: str = "models[0]", source: str = "study.yaml") -> MentorshipModel:
    """Check one custom model declaration (a mapping with the model's fields) and build it.

    Parameters
    ----------
    raw : mapping
        ``key``, ``name``, ``format``, ``description``, ``belonging_mechanism``,
        ``hope_mechanism`` and ``targets`` (a list of outcome families).
    where : str
        Key path of the declaration, used in error messages.
    source : str
        File name, used in error messages.

    Returns
    -------
    MentorshipModel
        With ``custom=True``.

    Raises
    ------
    StudyConfigError
        On a missing or unknown field, a bad key, format or target, or a key that
        collides with a built-in model.
    """
    def fail(path: str, problem: str) -> StudyConfigError:
        return StudyConfigError(f"{source}: key '{path}': {problem}")

    if not isinstance(raw, Mapping):
        raise fail(where, f"must be a mapping with the fields {', '.join(_MODEL_FIELDS)}; "
                          f"got {type(raw).__name__}.")
    allowed = (*_MODEL_FIELDS, "fidelity")
    extra = sorted(set(map(str, raw)) - set(allowed))
    if extra:
        raise fail(f"{where}.{extra[0]}", f"is not a known field; allowed: {', '.join(allowed)}.")
    missing = [f for f in _MODEL_FIELDS if raw.get(f) is None]
    if missing:
        raise fail(f"{where}.{missing[0]}", f"is required (a custom model needs {', '.join(_MODEL_FIELDS)}).")
    values: dict[str, Any] = {}
    for f in _MODEL_FIELDS[:-1]:
        v = raw[f]
        if not isinstance(v, str) or not v.strip():
            raise fail(f"{where}.{f}", f"must be non-empty text; got {v!r}.")
        values[f] = " ".join(v.split())
    key = values["key"]
    if not _KEY_RE.match(key):
        raise fail(f"{where}.key", "must be lower-case letters, digits and underscores, starting with a "
                                   f"letter; got {key!r}.")
    if key in _BY_KEY:
        raise fail(f"{where}.key", f"{key!r} is a built-in model; choose another key for a custom model "
                                   f"(built-in keys: {', '.join(_BY_KEY)}).")
    if values["format"] not in FORMATS:
        raise fail(f"{where}.format", f"must be one of {', '.join(FORMATS)}; got {values['format']!r}.")
    targets_raw = raw["targets"]
    if isinstance(targets_raw, str):
        targets_raw = [targets_raw]
    if not isinstance(targets_raw, list):
        raise fail(f"{where}.targets", f"must be a list of outcome families ({', '.join(OUTCOME_FAMILIES)}); "
                                       f"got {targets_raw!r}.")
    targets: list[str] = []
    for i, t in enumerate(targets_raw):
        if t not in OUTCOME_FAMILIES:
            raise fail(f"{where}.targets[{i}]", f"must be one of {', '.join(OUTCOME_FAMILIES)}; got {t!r}.")
        if t in targets:
            raise fail(f"{where}.targets[{i}]", f"{t!r} is listed twice.")
        targets.append(t)
    fidelity = parse_indicators(raw.get("fidelity"), f"{where}.fidelity", source)
    return MentorshipModel(targets=tuple(targets), custom=True, fidelity=fidelity, **values)


def parse_indicators(raw: Any, where: str = "models[0].fidelity",
                     source: str = "study.yaml") -> tuple[FidelityIndicator, ...]:
    """Check a custom model's ``fidelity:`` list and build its indicators.

    Parameters
    ----------
    raw : list of mappings or None
        Each with ``key``, ``label``, ``type`` (count, proportion or boolean) and ``expected``
        (the expected dose; 1 for booleans, in [0, 1] for proportions, >= 0 for counts).
    where, source : str
        Key path and file name for error messages.

    Returns
    -------
    tuple of FidelityIndicator
        Empty when ``raw`` is None.

    Raises
    ------
    StudyConfigError
        On a missing or unknown field, a bad key or type, an expected dose outside the
        type's range, or a key listed twice.
    """
    def fail(path: str, problem: str) -> StudyConfigError:
        return StudyConfigError(f"{source}: key '{path}': {problem}")

    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fail(where, f"must be a list of indicators (mappings with {', '.join(_INDICATOR_FIELDS)}); "
                          f"got {type(raw).__name__}.")
    out: list[FidelityIndicator] = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise fail(at, f"must be a mapping with {', '.join(_INDICATOR_FIELDS)}; got {item!r}.")
        extra = sorted(set(map(str, item)) - set(_INDICATOR_FIELDS))
        if extra:
            raise fail(f"{at}.{extra[0]}", f"is not a known field; allowed: {', '.join(_INDICATOR_FIELDS)}.")
        missing = [f for f in _INDICATOR_FIELDS if item.get(f) is None]
        if missing:
            raise fail(f"{at}.{missing[0]}", f"is required (an indicator needs {', '.join(_INDICATOR_FIELDS)}).")
        key, label, type_ = item["key"], item["label"], item["type"]
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise fail(f"{at}.key", f"must be lower-case letters, digits and underscores; got {key!r}.")
        if any(ind.key == key for ind in out):
            raise fail(f"{at}.key", f"{key!r} is listed twice.")
        if not isinstance(label, str) or not label.strip():
            raise fail(f"{at}.label", f"must be non-empty text; got {label!r}.")
        if type_ not in INDICATOR_TYPES:
            raise fail(f"{at}.type", f"must be one of {', '.join(INDICATOR_TYPES)}; got {type_!r}.")
        exp = item["expected"]
        if isinstance(exp, bool) and type_ == "boolean":
            exp = int(exp)
        if isinstance(exp, bool) or not isinstance(exp, (int, float)) or exp != exp:
            raise fail(f"{at}.expected", f"must be a number; got {exp!r}.")
        ok = {"count": exp >= 0, "proportion": 0 <= exp <= 1, "boolean": exp == 1}[type_]
        if not ok:
            rule = {"count": "a number >= 0", "proportion": "in [0, 1]", "boolean": "1 (true: it was done)"}[type_]
            raise fail(f"{at}.expected", f"must be {rule} for a {type_} indicator; got {exp!r}.")
        out.append(FidelityIndicator(key, " ".join(label.split()), type_, float(exp)))
    return tuple(out)
