"""One colour per arm, the same in every figure and legend of a report.

Colours are keyed by the arm, never by its position in one figure: an arm's colour is
fixed by the study (its place among the study's mentored arms), and the control arm is
always the same grey (:data:`CONTROL_GREY`). Every arm also gets its own marker symbol,
so that no figure relies on colour alone.

Two fixed palettes, chosen by the number of mentored arms:

* :data:`ARM_PALETTE_8` (up to eight arms) starts with four Okabe--Ito colours [1]_
  (blue, vermillion, bluish green, reddish purple), which already meet the contrast rule
  below; the other four were chosen to be as far as possible from them and from each
  other under every vision type.
* :data:`ARM_PALETTE_15` (nine to fifteen arms) starts with the same four and was chosen
  the same way for fifteen arms, ordered so that every leading part of it is as spread
  out as possible.

The rules each palette meets (``tests/test_palette.py`` checks them):

* **readable on white**: every colour has a WCAG 2 contrast ratio of at least 3:1 against
  the white page (the minimum for graphical objects [2]_), so thin error bars and small
  markers stay visible; several Okabe--Ito colours (orange, sky blue, yellow) and most of
  Tol's rainbow do not, which is why they are not used for arms;
* **colour-blind safe**: under simulated protanopia, deuteranopia and tritanopia
  (Machado, Oliveira & Fernandes 2009, severity 1 [3]_) and normal vision, any two arm
  colours, and any arm colour and the control grey, differ by a CIEDE2000 colour
  difference [4]_ of at least 12 with up to eight arms and at least 9 with fifteen
  (about 2.3 is a just-noticeable difference); beyond fifteen arms colours repeat and
  only the marker symbols tell arms apart.

References
----------
.. [1] Okabe, M. & Ito, K. (2008). Color Universal Design (CUD): how to make figures and
   presentations that are friendly to colorblind people. https://jfly.uni-koeln.de/color/
.. [2] W3C (2018). Web Content Accessibility Guidelines 2.1, success criterion 1.4.11
   (non-text contrast) and the definitions of contrast ratio and relative luminance.
.. [3] Machado, G. M., Oliveira, M. M. & Fernandes, L. A. F. (2009). A physiologically-based
   model for simulation of color vision deficiency. IEEE Transactions on Visualization and
   Computer Graphics, 15(6), 1291-1298.
.. [4] Sharma, G., Wu, W. & Dalal, E. N. (2005). The CIEDE2000 color-difference formula:
   implementation notes, supplementary test data, and mathematical observations. Color
   Research & Application, 30(1), 21-30.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["OKABE_ITO", "ARM_PALETTE_8", "ARM_PALETTE_15", "CONTROL_GREY", "NEUTRAL", "SYMBOLS", "arm_colors",
           "arm_symbols", "contrast_ratio", "relative_luminance", "study_arm_colors", "study_arm_symbols"]

#: The Okabe--Ito colour-blind-safe palette, by name (used for non-arm colours such as the
#: improved / deteriorated bars; only blue, vermillion, bluish green and reddish purple are
#: dark enough to be arm colours).
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

#: Mentored arms of a study with up to eight of them: blue, vermillion, bluish green, reddish
#: purple (Okabe--Ito), brick red, plum, lavender blue, terracotta.
ARM_PALETTE_8: tuple[str, ...] = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#87261E", "#703469", "#9680FF", "#9E5A44",
)

#: Mentored arms of a study with nine to fifteen of them: blue, vermillion, bluish green,
#: reddish purple, dark red, plum, forest green, indigo, periwinkle, scarlet, sage, mauve,
#: lavender, moss, wine.
ARM_PALETTE_15: tuple[str, ...] = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#960000", "#623470", "#08693C", "#2D34BB",
    "#7869F8", "#C32600", "#52804B", "#875287", "#9E87D2", "#70964B", "#80264B",
)

#: The control arm, in every figure (contrast 5.1:1 on white).
CONTROL_GREY = "#6E6E6E"
#: Neutral fill for "no change" / middle categories (not an arm colour).
NEUTRAL = "#BBBBBB"
#: Marker symbols, one per arm, so identity never rests on colour alone.
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "triangle-down", "cross", "x", "pentagon", "hexagon",
           "star", "hourglass", "bowtie", "triangle-left", "triangle-right", "star-diamond")


def relative_luminance(color: str) -> float:
    """WCAG 2 relative luminance of an sRGB colour ``"#RRGGBB"`` (0 for black, 1 for white).

    Parameters
    ----------
    color : str
        Hex colour ``"#RRGGBB"``.

    Returns
    -------
    float
        ``0.2126 R + 0.7152 G + 0.0722 B`` of the linearised channels
        (``c / 12.92`` up to 0.04045, else ``((c + 0.055) / 1.055) ** 2.4``).

    Examples
    --------
    >>> round(relative_luminance("#767676"), 4)
    0.1812
    """
    h = color.lstrip("#")
    if len(h) != 6:
        from mentor_eval.errors import ParameterError

        raise ParameterError(f"relative_luminance needs a colour '#RRGGBB'; got {color!r}.")
    chans = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in chans)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(color: str, background: str = "#FFFFFF") -> float:
    """WCAG 2 contrast ratio ``(L1 + 0.05) / (L2 + 0.05)`` of two colours (1 to 21).

    Examples
    --------
    >>> round(contrast_ratio("#767676"), 2)  # the lightest grey meeting 4.5:1 on white
    4.54
    """
    a, b = relative_luminance(color), relative_luminance(background)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


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
        :data:`ARM_PALETTE_8`, with 9 to 15 from :data:`ARM_PALETTE_15`; beyond 15 the
        colours repeat (every arm also has its own marker symbol).

    Examples
    --------
    >>> arm_colors(["control", "a", "b"], control="control")
    {'control': '#6E6E6E', 'a': '#0072B2', 'b': '#D55E00'}
    """
    arms = list(dict.fromkeys(arms))
    treated = [a for a in arms if a != control]
    colours = ARM_PALETTE_8 if len(treated) <= len(ARM_PALETTE_8) else ARM_PALETTE_15
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
