"""One colour per arm, the same in every figure and legend of a report.

Colours are keyed by the arm, never by its position in one figure: an arm's colour is
fixed by the study (its place among the study's mentored arms), and the control arm is
always the same grey. Up to eight mentored arms take the Okabe--Ito palette [1]_, which
stays distinguishable under the common colour-vision deficiencies; nine to fourteen
(up to fifteen) take Paul Tol's discrete rainbow [2]_, built for the same purpose when more colours
are needed. Every arm also gets its own marker symbol, so that no figure relies on
colour alone.

References
----------
.. [1] Okabe, M. & Ito, K. (2008). Color Universal Design (CUD): how to make figures and
   presentations that are friendly to colorblind people. https://jfly.uni-koeln.de/color/
.. [2] Tol, P. (2021). Colour Schemes. SRON technical note SRON/EPS/TN/09-002, figure 22
   (discrete rainbow, 14 colours).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["OKABE_ITO", "TOL_RAINBOW_14", "CONTROL_GREY", "NEUTRAL", "SYMBOLS", "arm_colors", "arm_symbols",
           "study_arm_colors", "study_arm_symbols"]

#: The Okabe--Ito colour-blind-safe palette, by name.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

#: Mentored arms 1-8 (yellow last: weak contrast on white).
_OKABE_ORDER = ("blue", "orange", "bluish_green", "vermillion", "sky_blue", "reddish_purple", "black", "yellow")

#: Paul Tol's discrete rainbow (its 14-colour set, plus the scheme's darkest red for a fifteenth arm),
#: interleaved so that neighbouring arms differ in hue; for studies with more than eight mentored arms.
TOL_RAINBOW_14: tuple[str, ...] = (
    "#882E72", "#1965B0", "#4EB265", "#F1932D", "#AE76A3", "#5289C7", "#90C987", "#E8601C",
    "#D1BBD7", "#7BAFDE", "#CAE0AB", "#F6C141", "#DC050C", "#F7F056", "#72190E",
)

#: The control arm, in every figure.
CONTROL_GREY = "#6E6E6E"
#: Neutral fill for "no change" / middle categories (not an arm colour).
NEUTRAL = "#BBBBBB"
#: Marker symbols, one per arm, so identity never rests on colour alone.
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "triangle-down", "cross", "x", "pentagon", "hexagon",
           "star", "hourglass", "bowtie", "triangle-left", "triangle-right", "star-diamond")


def arm_colors(arms: Iterable[Any], control: Any = None) -> dict[Any, str]:
    """Arm -> colour for arms in the study's order; ``control`` (if given) gets :data:`CONTROL_GREY`.

    Parameters
    ----------
    arms : iterable
        Every arm of the study, in the study's order (keys or labels).
    control : optional
        The control arm (same kind of value as ``arms``).

    Returns
    -------
    dict
        One distinct colour per arm. With up to 8 mentored arms they come from
        Okabe--Ito, with 9 to 15 from Tol's discrete rainbow; beyond 15 the rainbow
        repeats (a study with so many arms also gets distinct marker symbols).

    Examples
    --------
    >>> arm_colors(["control", "a", "b"], control="control")
    {'control': '#6E6E6E', 'a': '#0072B2', 'b': '#E69F00'}
    """
    arms = list(dict.fromkeys(arms))
    treated = [a for a in arms if a != control]
    colours = [OKABE_ITO[k] for k in _OKABE_ORDER] if len(treated) <= len(_OKABE_ORDER) else list(TOL_RAINBOW_14)
    out = {}
    i = 0
    for a in arms:
        if control is not None and a == control:
            out[a] = CONTROL_GREY
        else:
            out[a] = colours[i % len(colours)]
            i += 1
    return out


def arm_symbols(arms: Iterable[Any], control: Any = None) -> dict[Any, str]:
    """Arm -> plotly marker symbol (control: ``"circle-open"``), in the study's order."""
    arms = list(dict.fromkeys(arms))
    out = {}
    i = 0
    for a in arms:
        if control is not None and a == control:
            out[a] = "circle-open"
        else:
            out[a] = SYMBOLS[i % len(SYMBOLS)]
            i += 1
    return out


def _study_keys(study: Any) -> tuple[list[str], str | None]:
    return list(study.arm_keys), study.control_arm


def study_arm_colors(study: Any, labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """Colours of a study's arms, keyed by arm key and (when ``labels`` is given) also by label."""
    keys, control = _study_keys(study)
    by_key = arm_colors(keys, control)
    if labels:
        by_key.update({labels.get(k, k): c for k, c in list(by_key.items())})
    return by_key


def study_arm_symbols(study: Any, labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """Marker symbols of a study's arms, keyed by arm key and (with ``labels``) by label."""
    keys, control = _study_keys(study)
    by_key = arm_symbols(keys, control)
    if labels:
        by_key.update({labels.get(k, k): s for k, s in list(by_key.items())})
    return by_key
