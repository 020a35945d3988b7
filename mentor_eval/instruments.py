"""Instrument definitions: load, check and look up validated questionnaires.

An instrument is described by one YAML file (format documented in
``instruments/README.md``). Loading checks every field and rejects a bad file
with :class:`~mentor_eval.errors.InstrumentDefinitionError` naming the file, the
field and the problem. The bundled library lives in ``instruments/``; users can
point at a directory of their own definitions (searched first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from mentor_eval.config import ConfigChecker, read_yaml
from mentor_eval.errors import InstrumentDefinitionError
from mentor_eval.resources import instruments_dir

__all__ = [
    "CONSTRUCTS",
    "ResponseScale",
    "Item",
    "Scale",
    "Citation",
    "Form",
    "Instrument",
    "Retest",
    "load_instrument",
    "list_instruments",
    "parse_instrument",
]

CONSTRUCTS = ("hope", "belonging", "relationship_quality", "other")
METHODS = ("sum", "mean")

_TOP_KEYS = {
    "id", "name", "short_name", "construct", "citation", "licence", "age_range", "forms",
    "default_form", "response_scale", "items", "scales", "notes", "published_reliability",
    "administration", "retest",
}
_RETEST_KEYS = {"scale", "value", "interval_weeks", "sample", "citation"}
_ITEM_KEYS = {"id", "gist", "reverse", "subscale", "filler"}
_SCALE_KEYS = {"id", "label", "items", "subscales", "method", "min_answered"}
_CITATION_KEYS = {"authors", "year", "title", "journal", "volume", "issue", "pages", "doi", "url"}


@dataclass(frozen=True)
class ResponseScale:
    """The answer options of an instrument: integer codes ``min``..``max`` with labels.

    ``labels`` holds one label per code (the wording shown to respondents); ``aliases`` other
    wordings of the same answer that exports use (``Neutral`` for ``Neither agree nor
    disagree``), so a fully labelled export maps whichever wording the survey used.
    """

    min: int
    max: int
    labels: Mapping[int, str] = field(default_factory=dict)
    aliases: Mapping[int, tuple[str, ...]] = field(default_factory=dict)

    def all_labels(self) -> dict[str, int]:
        """Every known wording (labels and aliases, as written) -> code."""
        out = {v: k for k, v in self.labels.items()}
        for k, words in self.aliases.items():
            out.update(dict.fromkeys(words, k))
        return out

    @property
    def n_points(self) -> int:
        return self.max - self.min + 1

    @property
    def midpoint(self) -> float:
        return (self.min + self.max) / 2


@dataclass(frozen=True)
class Item:
    """One item: its id, a gist in the project's words, keying and role."""

    id: str
    gist: str
    reverse: bool = False
    subscale: str | None = None
    filler: bool = False


@dataclass(frozen=True)
class Scale:
    """A scored scale: the items (resolved through subscales), method and missing-data rule."""

    id: str
    item_ids: tuple[str, ...]
    method: str
    min_answered: int
    subscales: tuple[str, ...] = ()
    label: str | None = None

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


@dataclass(frozen=True)
class Citation:
    authors: tuple[str, ...]
    year: int | None
    title: str | None = None
    journal: str | None = None
    doi: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    url: str | None = None

    def short(self) -> str:
        """``Snyder et al. (1991)`` style."""
        if not self.authors:
            lead = "Unknown"
        else:
            lead = self.authors[0].split(",")[0].strip()
            if len(self.authors) == 2:
                lead = f"{lead} & {self.authors[1].split(',')[0].strip()}"
            elif len(self.authors) > 2:
                lead = f"{lead} et al."
        return f"{lead} ({self.year})" if self.year else lead


@dataclass(frozen=True)
class Retest:
    """A published test-retest reliability of one scale (used by reliable change).

    ``interval_weeks`` is the retest interval as (shortest, longest) weeks; both equal for one
    interval.
    """

    scale: str
    value: float
    interval_weeks: tuple[float, float]
    sample: str
    citation: str


@dataclass(frozen=True)
class Form:
    """A variant of an instrument (e.g. the Adult Hope Scale's 8-point and 4-point forms)."""

    name: str
    response_scale: ResponseScale
    published_alpha: float | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Instrument:
    """A validated instrument definition.

    ``response_scale`` is the scale of the form in use (``form``); use
    :meth:`with_form` to switch form.
    """

    id: str
    name: str
    construct: str
    citation: Citation
    licence: str
    items: tuple[Item, ...]
    scales: tuple[Scale, ...]
    forms: Mapping[str, Form]
    form: str
    short_name: str | None = None
    age_range: tuple[int | None, int | None] | None = None
    notes: tuple[str, ...] = ()
    administration: str | None = None
    source: str | None = None
    retest: tuple[Retest, ...] = ()

    # ------------------------------------------------------------------ views
    @property
    def response_scale(self) -> ResponseScale:
        return self.forms[self.form].response_scale

    @property
    def published_alpha(self) -> float | None:
        return self.forms[self.form].published_alpha

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items)

    @property
    def scored_item_ids(self) -> tuple[str, ...]:
        """Items that enter at least one scale (fillers excluded), in definition order."""
        used = {i for s in self.scales for i in s.item_ids}
        return tuple(i.id for i in self.items if i.id in used)

    @property
    def reverse_item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items if i.reverse)

    @property
    def scale_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.scales)

    def item(self, item_id: str) -> Item:
        for i in self.items:
            if i.id == str(item_id):
                return i
        raise KeyError(item_id)

    def scale(self, scale_id: str) -> Scale:
        for s in self.scales:
            if s.id == scale_id:
                return s
        allowed = ", ".join(self.scale_ids)
        raise KeyError(f"instrument {self.id!r} has no scale {scale_id!r}; it has: {allowed}")

    def scale_range(self, scale_id: str) -> tuple[float, float]:
        """The smallest and largest possible score of a scale."""
        s = self.scale(scale_id)
        rs = self.response_scale
        if s.method == "mean":
            return float(rs.min), float(rs.max)
        return float(rs.min * s.n_items), float(rs.max * s.n_items)

    def column_names(self, pattern: str = "{item}", items: Iterable[str] | None = None) -> dict[str, str]:
        """Map item id -> data column name, e.g. ``"ahs_{item}"`` -> ``{"1": "ahs_1", ...}``."""
        if "{item}" not in pattern:
            raise InstrumentDefinitionError(
                f"The column pattern {pattern!r} for instrument {self.id!r} must contain '{{item}}', "
                "e.g. 'ahs_{item}'."
            )
        ids = self.item_ids if items is None else tuple(items)
        return {i: pattern.replace("{item}", i) for i in ids}

    def with_form(self, form: str | None) -> Instrument:
        """The same instrument using the response scale of ``form`` (``None``: default form)."""
        if form is None or form == self.form:
            return self
        if form not in self.forms:
            allowed = ", ".join(repr(f) for f in self.forms)
            raise InstrumentDefinitionError(
                f"Instrument {self.id!r} has no form {form!r}; allowed: {allowed}."
            )
        return replace(self, form=form)

    def summary(self) -> dict[str, Any]:
        rs = self.response_scale
        return {
            "id": self.id,
            "name": self.name,
            "construct": self.construct,
            "items": len(self.items),
            "scales": ", ".join(self.scale_ids),
            "range": f"{rs.min}-{rs.max}",
            "forms": ", ".join(self.forms),
            "licence": self.licence,
        }


# ---------------------------------------------------------------------- parsing
class _Checker(ConfigChecker):
    """Instrument-file messages: the file name and the field path (rules shared with study files)."""

    def __init__(self, source: str) -> None:
        super().__init__(source, InstrumentDefinitionError, "field")

    def seq(self, value: Any, path: str, **kw: Any) -> list[Any]:
        return super().seq(value, path, allow_none=False, **kw)

    def text(self, value: Any, path: str, *, required: bool = True, numbers_as_text: bool = True) -> str | None:
        # Item ids and labels such as 1 or 2.5 are written unquoted in YAML: read them as text.
        return super().text(value, path, required=required, numbers_as_text=numbers_as_text)


def _parse_response_scale(c: _Checker, raw: Any, path: str) -> ResponseScale:
    m = c.mapping(raw, path)
    c.unknown_keys(m, {"min", "max", "labels", "aliases"}, path)
    if "min" not in m or "max" not in m:
        raise c.fail(path, "needs both 'min' and 'max'.")
    lo = c.integer(m["min"], f"{path}.min")
    hi = c.integer(m["max"], f"{path}.max")
    if lo >= hi:
        raise c.fail(f"{path}.min", f"min ({lo}) must be smaller than max ({hi}).")
    seen: dict[str, int] = {}

    def code(k: Any, kp: str) -> int:
        if isinstance(k, bool) or not isinstance(k, int):
            raise c.fail(kp, f"label keys must be whole-number codes; got {k!r}.")
        if not lo <= k <= hi:
            raise c.fail(kp, f"code {k} is outside the response scale {lo}-{hi}.")
        return k

    def unique(word: str, k: int, kp: str) -> None:
        key = " ".join(word.lower().split())
        if key in seen and seen[key] != k:
            raise c.fail(kp, f"label {word!r} is also used for code {seen[key]}.")
        if key in seen:
            raise c.fail(kp, f"label {word!r} is given twice for code {k}.")
        seen[key] = k

    labels: dict[int, str] = {}
    if m.get("labels") is not None:
        for k, v in c.mapping(m["labels"], f"{path}.labels").items():
            kp = f"{path}.labels.{k}"
            labels[code(k, kp)] = c.text(v, kp)  # type: ignore[assignment]
            unique(labels[k], k, kp)
    aliases: dict[int, tuple[str, ...]] = {}
    if m.get("aliases") is not None:
        for k, v in c.mapping(m["aliases"], f"{path}.aliases").items():
            kp = f"{path}.aliases.{k}"
            k = code(k, kp)
            if k not in labels:
                raise c.fail(kp, f"code {k} has aliases but no label; give its label under 'labels' first.")
            words = tuple(c.text(w, f"{kp}[{i}]") for i, w in enumerate(c.seq(v, kp, allow_scalar=True)))
            for i, w in enumerate(words):
                unique(w, k, f"{kp}[{i}]")  # type: ignore[arg-type]
            aliases[k] = words  # type: ignore[assignment]
    return ResponseScale(lo, hi, labels, aliases)


def _parse_alpha(c: _Checker, raw: Any, path: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, Mapping):
        c.unknown_keys(raw, {"alpha"}, path)
        raw = raw.get("alpha")
        path = f"{path}.alpha"
        if raw is None:
            return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not 0 < raw < 1:
        raise c.fail(path, f"must be a reliability between 0 and 1; got {raw!r}.")
    return float(raw)


def _parse_citation(c: _Checker, raw: Any) -> Citation:
    m = c.mapping(raw, "citation")
    c.unknown_keys(m, _CITATION_KEYS, "citation")
    authors_raw = m.get("authors")
    if authors_raw is None:
        raise c.fail("citation.authors", "is required.")
    if isinstance(authors_raw, str):
        authors = (c.text(authors_raw, "citation.authors"),)  # type: ignore[assignment]
    else:
        authors = tuple(c.text(a, f"citation.authors[{i}]") for i, a in  # type: ignore[misc]
                        enumerate(c.seq(authors_raw, "citation.authors")))
    if not authors:
        raise c.fail("citation.authors", "must name at least one author.")
    year = m.get("year")
    if year is not None:
        year = c.integer(year, "citation.year")
    opt = {k: c.text(m.get(k), f"citation.{k}", required=False)
           for k in ("title", "journal", "doi", "volume", "issue", "pages", "url")}
    return Citation(authors=authors, year=year, **opt)  # type: ignore[arg-type]


def _resolve_scales(c: _Checker, raw_scales: list[Any], item_ids: list[str],
                    fillers: set[str]) -> tuple[Scale, ...]:
    raw_by_id: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for i, raw in enumerate(raw_scales):
        p = f"scales[{i}]"
        m = c.mapping(raw, p)
        c.unknown_keys(m, _SCALE_KEYS, p)
        sid = c.text(m.get("id"), f"{p}.id")
        assert sid is not None
        if sid in raw_by_id:
            raise c.fail(f"{p}.id", f"duplicate scale id {sid!r}.")
        raw_by_id[sid] = (i, m)

    resolved: dict[str, tuple[str, ...]] = {}

    def resolve(sid: str, stack: tuple[str, ...]) -> tuple[str, ...]:
        if sid in resolved:
            return resolved[sid]
        i, m = raw_by_id[sid]
        p = f"scales[{i}]"
        if sid in stack:
            raise c.fail(f"{p}.subscales", f"scale {sid!r} includes itself through {' -> '.join(stack)}.")
        items = [str(x) for x in c.seq(m.get("items") or [], f"{p}.items")]
        subs = [str(x) for x in c.seq(m.get("subscales") or [], f"{p}.subscales")]
        if not items and not subs:
            raise c.fail(p, f"scale {sid!r} lists neither 'items' nor 'subscales'.")
        out: list[str] = []
        for j, it in enumerate(items):
            if it not in item_ids:
                raise c.fail(f"{p}.items[{j}]", f"unknown item {it!r}; items are: {', '.join(item_ids)}.")
            if it in fillers:
                raise c.fail(f"{p}.items[{j}]", f"item {it!r} is a filler and cannot be scored.")
            out.append(it)
        for j, sub in enumerate(subs):
            if sub not in raw_by_id:
                raise c.fail(f"{p}.subscales[{j}]",
                             f"unknown scale {sub!r}; scales are: {', '.join(raw_by_id)}.")
            out.extend(resolve(sub, (*stack, sid)))
        if len(set(out)) != len(out):
            dup = sorted({x for x in out if out.count(x) > 1})
            raise c.fail(p, f"scale {sid!r} counts item(s) {', '.join(dup)} more than once.")
        order = {it: k for k, it in enumerate(item_ids)}
        resolved[sid] = tuple(sorted(out, key=order.__getitem__))
        return resolved[sid]

    scales = []
    for sid, (i, m) in raw_by_id.items():
        p = f"scales[{i}]"
        ids = resolve(sid, ())
        method = m.get("method", "sum")
        if method not in METHODS:
            raise c.fail(f"{p}.method", f"must be one of {', '.join(METHODS)}; got {method!r}.")
        if "min_answered" in m:
            min_ans = c.integer(m["min_answered"], f"{p}.min_answered")
        else:
            min_ans = len(ids)
        if not 1 <= min_ans <= len(ids):
            raise c.fail(f"{p}.min_answered",
                         f"must be between 1 and the scale's {len(ids)} items; got {min_ans}.")
        subs = tuple(str(x) for x in (m.get("subscales") or []))
        scales.append(Scale(sid, ids, method, min_ans, subs, c.text(m.get("label"), f"{p}.label",
                                                                     required=False)))
    return tuple(scales)


def parse_instrument(raw: Any, source: str = "<definition>") -> Instrument:
    """Check a parsed YAML document and build an :class:`Instrument`.

    Raises
    ------
    InstrumentDefinitionError
        Naming ``source``, the field path (``items[3].reverse``) and the problem.
    """
    c = _Checker(source)
    if raw is None:
        raise c.fail("", "the file is empty.")
    m = c.mapping(raw, "")
    c.unknown_keys(m, _TOP_KEYS, "")
    iid = c.text(m.get("id"), "id")
    assert iid is not None
    if not iid.replace("_", "").isalnum() or not iid[0].isalpha() or iid.lower() != iid:
        raise c.fail("id", f"must be lower-case letters, digits and underscores, starting with a letter; "
                           f"got {iid!r}.")
    name = c.text(m.get("name"), "name")
    construct = c.text(m.get("construct"), "construct")
    if construct not in CONSTRUCTS:
        raise c.fail("construct", f"must be one of {', '.join(CONSTRUCTS)}; got {construct!r}.")
    if "citation" not in m:
        raise c.fail("citation", "is required (authors, year, title, journal, doi when known).")
    citation = _parse_citation(c, m["citation"])
    licence = c.text(m.get("licence"), "licence")

    age_range = None
    if m.get("age_range") is not None:
        ar = c.seq(m["age_range"], "age_range")
        if len(ar) != 2:
            raise c.fail("age_range", "must be [youngest, oldest] (use null for an open end).")
        lo_age = None if ar[0] is None else c.integer(ar[0], "age_range[0]")
        hi_age = None if ar[1] is None else c.integer(ar[1], "age_range[1]")
        if lo_age is not None and hi_age is not None and lo_age > hi_age:
            raise c.fail("age_range", f"youngest ({lo_age}) is older than oldest ({hi_age}).")
        age_range = (lo_age, hi_age)

    # forms: either one top-level response_scale, or named forms each with its own scale
    forms: dict[str, Form] = {}
    if m.get("forms") is not None:
        if m.get("response_scale") is not None:
            raise c.fail("response_scale", "give either 'response_scale' or 'forms', not both.")
        if m.get("published_reliability") is not None:
            raise c.fail("published_reliability",
                         "with 'forms', give it inside each form (forms.<name>.published_reliability).")
        fm = c.mapping(m["forms"], "forms")
        if not fm:
            raise c.fail("forms", "must name at least one form.")
        for fname, fraw in fm.items():
            p = f"forms.{fname}"
            f = c.mapping(fraw, p)
            c.unknown_keys(f, {"response_scale", "published_reliability", "notes"}, p)
            if f.get("response_scale") is None:
                raise c.fail(f"{p}.response_scale", "is required for every form.")
            forms[str(fname)] = Form(
                str(fname),
                _parse_response_scale(c, f["response_scale"], f"{p}.response_scale"),
                _parse_alpha(c, f.get("published_reliability"), f"{p}.published_reliability"),
                _notes(c, f.get("notes"), f"{p}.notes"),
            )
        default_form = c.text(m.get("default_form"), "default_form", required=False) or next(iter(forms))
        if default_form not in forms:
            raise c.fail("default_form", f"names no form; forms are: {', '.join(forms)}.")
    else:
        if m.get("default_form") is not None:
            raise c.fail("default_form", "is only used with 'forms'; this definition has one response_scale.")
        default_form = "standard"
        rs = None
        if m.get("response_scale") is not None:
            rs = _parse_response_scale(c, m["response_scale"], "response_scale")
        forms = {"standard": Form("standard", rs,  # type: ignore[arg-type]
                                  _parse_alpha(c, m.get("published_reliability"), "published_reliability"))}

    # items
    raw_items = c.seq(m.get("items"), "items")
    if not raw_items:
        raise c.fail("items", "must list at least one item.")
    items: list[Item] = []
    seen: set[str] = set()
    for i, raw_item in enumerate(raw_items):
        p = f"items[{i}]"
        im = c.mapping(raw_item, p)
        c.unknown_keys(im, _ITEM_KEYS, p)
        item_id = c.text(im.get("id"), f"{p}.id")
        assert item_id is not None
        if item_id in seen:
            raise c.fail(f"{p}.id", f"duplicate item id {item_id!r}.")
        seen.add(item_id)
        reverse = c.flag(im.get("reverse"), f"{p}.reverse")
        filler = c.flag(im.get("filler"), f"{p}.filler")
        if reverse and filler:
            raise c.fail(f"{p}.reverse", f"item {item_id!r} is a filler; a filler cannot be reverse-keyed.")
        if reverse and any(f.response_scale is None for f in forms.values()):
            raise c.fail(f"{p}.reverse",
                         f"item {item_id!r} is reverse-keyed but the instrument has no response_scale "
                         "(min and max are needed to reverse: min + max - x).")
        gist = c.text(im.get("gist"), f"{p}.gist")
        items.append(Item(item_id, gist, reverse, c.text(im.get("subscale"), f"{p}.subscale",  # type: ignore[arg-type]
                                                           required=False), filler))
    if any(f.response_scale is None for f in forms.values()):
        raise c.fail("response_scale", "is required (min, max and labels of the answer options).")

    raw_scales = c.seq(m.get("scales"), "scales")
    if not raw_scales:
        raise c.fail("scales", "must define at least one scored scale.")
    fillers = {it.id for it in items if it.filler}
    scales = _resolve_scales(c, raw_scales, [it.id for it in items], fillers)
    scale_ids = {s.id for s in scales}
    for i, it in enumerate(items):
        if it.subscale is not None and it.subscale not in scale_ids:
            raise c.fail(f"items[{i}].subscale",
                         f"item {it.id!r} names subscale {it.subscale!r}, which is not among the scales "
                         f"({', '.join(sorted(scale_ids))}).")
        if it.subscale is not None and it.id not in scale_by_id(scales, it.subscale).item_ids:
            raise c.fail(f"items[{i}].subscale",
                         f"item {it.id!r} says it belongs to {it.subscale!r}, but that scale does not list it.")
    scored = {x for s in scales for x in s.item_ids}
    unscored = [it.id for it in items if not it.filler and it.id not in scored]
    if unscored:
        raise c.fail("scales", f"item(s) {', '.join(unscored)} are in no scale; mark them 'filler: true' "
                               "or add them to a scale.")

    notes = _notes(c, m.get("notes"), "notes")
    retest = _parse_retest(c, m.get("retest"), scale_ids)
    return Instrument(
        id=iid, name=name, construct=construct, citation=citation, licence=licence,  # type: ignore[arg-type]
        items=tuple(items), scales=scales, forms=forms, form=default_form,
        short_name=c.text(m.get("short_name"), "short_name", required=False),
        age_range=age_range, notes=notes,
        administration=c.text(m.get("administration"), "administration", required=False),
        source=source, retest=retest,
    )


def _parse_retest(c: _Checker, raw: Any, scale_ids: set[str]) -> tuple[Retest, ...]:
    """Optional ``retest`` list: published test-retest reliabilities, one entry per scale and interval."""
    if raw is None:
        return ()
    out = []
    for i, entry in enumerate(c.seq(raw, "retest")):
        p = f"retest[{i}]"
        e = c.mapping(entry, p)
        c.unknown_keys(e, _RETEST_KEYS, p)
        for k in sorted(_RETEST_KEYS - set(map(str, e))):
            raise c.fail(f"{p}.{k}", "is required (scale, value, interval_weeks, sample, citation).")
        scale = c.text(e["scale"], f"{p}.scale")
        if scale not in scale_ids:
            raise c.fail(f"{p}.scale", f"names no scale; scales are: {', '.join(sorted(scale_ids))}.")
        value = e["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise c.fail(f"{p}.value", f"must be a reliability between 0 and 1; got {value!r}.")
        iv = e["interval_weeks"]
        iv = list(iv) if isinstance(iv, (list, tuple)) else [iv]
        if not 1 <= len(iv) <= 2 or any(isinstance(w, bool) or not isinstance(w, (int, float)) or not w > 0
                                        for w in iv) or iv[0] > iv[-1]:
            raise c.fail(f"{p}.interval_weeks", "must be a number of weeks > 0 or [shortest, longest]; "
                                                f"got {e['interval_weeks']!r}.")
        out.append(Retest(scale, float(value), (float(iv[0]), float(iv[-1])),  # type: ignore[arg-type]
                          c.text(e["sample"], f"{p}.sample"), c.text(e["citation"], f"{p}.citation")))
    return tuple(out)


def _notes(c: _Checker, raw: Any, path: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    return tuple(str(n) for n in c.seq(raw, path))


def scale_by_id(scales: Iterable[Scale], sid: str) -> Scale:
    for s in scales:
        if s.id == sid:
            return s
    raise KeyError(sid)


def _read_yaml(path: Path) -> Any:
    return read_yaml(path, error=InstrumentDefinitionError, what="instrument definition")


def _stamp(p: Path) -> tuple[int, int]:
    # Nanosecond mtime and size: an edit on a coarse-clock filesystem still changes the key.
    st = p.stat()
    return st.st_mtime_ns, st.st_size


@lru_cache(maxsize=256)
def _load_file(path: str, stamp: tuple[int, int]) -> Instrument:
    p = Path(path)
    inst = parse_instrument(_read_yaml(p), source=p.name)
    if inst.id != p.stem:
        raise InstrumentDefinitionError(
            f"{p.name}: field 'id': the id {inst.id!r} must match the file name ({p.stem!r})."
        )
    return inst


def _definition_files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        raise InstrumentDefinitionError(f"Instrument directory {directory} does not exist.")
    return {p.stem: p for p in sorted(directory.glob("*.yaml"))}


def _search_dirs(directory: str | Path | Iterable[str | Path] | None) -> list[Path]:
    if directory is None:
        extra: list[Path] = []
    elif isinstance(directory, (str, Path)):
        extra = [Path(directory)]
    else:
        extra = [Path(d) for d in directory]
    return [*extra, instruments_dir()]


def load_instrument(
    instrument: str | Path | Instrument,
    *,
    directory: str | Path | Iterable[str | Path] | None = None,
    form: str | None = None,
) -> Instrument:
    """Load an instrument by id (from ``directory`` first, then the bundled library) or by file path.

    Parameters
    ----------
    instrument : str, Path or Instrument
        An id such as ``"adult_hope_scale"``, a path to a YAML file, or an
        already loaded :class:`Instrument` (returned, switched to ``form``).
    directory : path or list of paths, optional
        Directories of user definitions, searched before the bundled library.
    form : str, optional
        The form (response scale variant) in use; default: the definition's ``default_form``.

    Returns
    -------
    Instrument

    Examples
    --------
    >>> ahs = load_instrument("adult_hope_scale", form="4-point")
    >>> ahs.response_scale.max
    4
    """
    if isinstance(instrument, Instrument):
        return instrument.with_form(form)
    text = str(instrument)
    path = Path(text)
    if text.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise InstrumentDefinitionError(f"Instrument file {text} does not exist.")
        return _load_file(str(path.resolve()), _stamp(path)).with_form(form)
    for d in _search_dirs(directory):
        files = _definition_files(d)
        if text in files:
            p = files[text]
            return _load_file(str(p.resolve()), _stamp(p)).with_form(form)
    known = sorted({k for d in _search_dirs(directory) if d.is_dir() for k in _definition_files(d)})
    raise InstrumentDefinitionError(
        f"Unknown instrument {text!r}. Known instruments: {', '.join(known)}."
    )


def list_instruments(directory: str | Path | Iterable[str | Path] | None = None) -> list[Instrument]:
    """Every definition in ``directory`` (if given) and the bundled library, ids unique.

    A user definition with the same id as a bundled one takes its place.
    """
    found: dict[str, Instrument] = {}
    for d in _search_dirs(directory):
        for stem, p in _definition_files(d).items():
            if stem not in found:
                found[stem] = _load_file(str(p.resolve()), _stamp(p))
    return [found[k] for k in sorted(found)]
