"""Log axes: what a log axis can show, and how its ticks are placed and labelled.

:mod:`gradviz.plots` re-exports every public name here (``plots.log_scale``,
``plots.sticky_log_limits``, ...); figures and explorers use them from there.
Kept apart from the figures so that each module stays readable (one topic, a
few hundred lines); it imports nothing from gradviz.

- :data:`LOG_DISPLAY_RANGE`, :func:`positive_finite`, :func:`in_display_units`: values as a log (or a
  linear) axis can draw them, without the overflow of matplotlib's padding near float64's ends;
- :class:`SafeLogLocator`, :class:`FewDecadesLogLocator`: tick positions;
- :class:`SuperscriptLogFormatter` (10⁻⁵, 3×10⁻¹ without mathtext) and :class:`PlainLogFormatter`
  (the same ticks, 5 and 0.2 as plain numbers), set by :func:`log_scale`, :func:`fast_log_yaxis` and
  :func:`plain_log_labels`;
- :func:`sticky_log_limits`: limits that stay put while an explorer's data moves a little.
"""

from __future__ import annotations

import re

import matplotlib as mpl
import numpy as np

__all__ = [
    "LOG_DISPLAY_RANGE",
    "EMPTY_LOG_LIMITS",
    "SUPERSCRIPT",
    "positive_finite",
    "in_display_units",
    "SafeLogLocator",
    "FewDecadesLogLocator",
    "SuperscriptLogFormatter",
    "PlainLogFormatter",
    "log_scale",
    "fast_log_yaxis",
    "plain_log_labels",
    "sticky_log_limits",
]


#: What a log axis can show: matplotlib pads the data's span by 5 % in log space, and beyond
#: 1e-308 .. 1.8e308 that padding underflows or overflows (with RuntimeWarnings).
LOG_DISPLAY_RANGE = (1e-270, 1e270)


def positive_finite(values):
    """Copy of ``values`` as float with NaN where not finite or <= 0 (nothing to draw on a log axis),
    clipped to :data:`LOG_DISPLAY_RANGE` (a value beyond it is drawn at its edge)."""
    v = np.array(values, dtype=float)
    with np.errstate(invalid="ignore"):
        v[~np.isfinite(v) | (v <= 0)] = np.nan
        np.clip(v, *LOG_DISPLAY_RANGE, out=v)
    return v


def in_display_units(values):
    """(``values`` / 10**k, k): k = 0 while every finite |value| is at most ``LOG_DISPLAY_RANGE[1]``
    (1e270), else the exponent of the largest, so that a linear axis can pad and tick the result
    (near float64's top, 1.8e308, matplotlib's padding and tick steps overflow). Label the axis
    "units of 1e{k}" when k is not 0."""
    v = np.asarray(values, dtype=float)
    finite = np.abs(v[np.isfinite(v)])
    top = float(finite.max()) if finite.size else 0.0
    if top <= LOG_DISPLAY_RANGE[1]:
        return v, 0
    k = int(np.floor(np.log10(top)))
    return v / 10.0**k, k


class SafeLogLocator(mpl.ticker.LogLocator):
    """matplotlib's LogLocator without its overflow: on an axis spanning hundreds of decades it
    places candidate ticks a stride beyond the view, where 10**k overflows float64 (a
    RuntimeWarning at every draw). Those candidates are dropped; the other ticks are the same."""

    def tick_values(self, vmin, vmax):
        with np.errstate(over="ignore", under="ignore"):
            ticks = np.asarray(super().tick_values(vmin, vmax))
        return ticks[np.isfinite(ticks) & (ticks > 0)]


#: Limits of a log axis that has data but nothing positive to show (matplotlib would warn instead).
EMPTY_LOG_LIMITS = (0.1, 10.0)


def log_scale(ax, axis="y", minor_labels=False):
    """Make ``axis`` of ``ax`` logarithmic with :class:`SafeLogLocator` ticks (major and minor).

    When ``ax`` holds data but none of it is positive along ``axis`` (all zeros, say), that axis
    gets the limits :data:`EMPTY_LOG_LIMITS` instead of matplotlib's "Data has no positive values" warning.
    ``minor_labels``: label 2 and 5 x 10^k too over up to 2 decades (:class:`SuperscriptLogFormatter`).
    """
    low, high = getattr(ax.dataLim, f"interval{axis}")
    if np.isfinite(low) and np.isfinite(high) and not np.isfinite(getattr(ax.dataLim, f"minpos{axis}")):
        getattr(ax, f"set_{axis}lim")(*EMPTY_LOG_LIMITS)
    getattr(ax, f"set_{axis}scale")("log")
    ax_axis = getattr(ax, f"{axis}axis")
    ax_axis.set_major_locator(SafeLogLocator())
    ax_axis.set_minor_locator(SafeLogLocator(subs="auto"))
    if minor_labels:
        ax_axis.set_major_formatter(SuperscriptLogFormatter())
        ax_axis.set_minor_formatter(SuperscriptLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    return ax


class FewDecadesLogLocator(SafeLogLocator):
    """Minor ticks of a log axis (2, 3, ..., 9 x 10^k) while it spans at most ``max_decades``; none beyond.

    Over a few decades they help to read a value off the axis; over many they
    are a grey comb, and each costs a tick line to draw (on a 7-decade axis,
    drawing the axis took 38 ms with them and 16 ms without). Decided from the
    view limits at each draw, so zooming in brings them back.
    """

    def __init__(self, max_decades=4):
        super().__init__(subs="auto")
        self.max_decades = max_decades

    def tick_values(self, vmin, vmax):
        if vmin > 0 and vmax > 0 and abs(np.log10(vmax) - np.log10(vmin)) > self.max_decades:
            return np.array([])
        return super().tick_values(vmin, vmax)


#: str.translate table to superscript digits and minus (10^-3 -> 10⁻³).
SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")
_MATHTEXT_POWER = re.compile(r"\$\\mathdefault\{(-?)(?:(.+?)\\times)?(\d+)\^\{(-?\d+)\}\}\$")
_MATHTEXT_PLAIN = re.compile(r"\$\\mathdefault\{(.*)\}\$")


class SuperscriptLogFormatter(mpl.ticker.LogFormatterSciNotation):
    """Log tick labels as plain text with Unicode superscripts (10⁻⁵, 3×10⁻¹) instead of mathtext.

    The same labels as matplotlib's default (which ticks get one is its
    logic), drawn without mathtext: the first time a mathtext label such as
    10^{-7} is drawn its parse costs 15 to 100 ms, and an explorer whose axis
    moves with a slider meets new labels all the time.
    """

    def set_locs(self, locs=None):
        # matplotlib's 2, 3, 4, 6 x 10^k over 1-2 decades put 3 and 4 nearly on top of each other
        super().set_locs(locs)
        if self._sublabels == {1, 2, 3, 4, 6, 10}:
            self._sublabels = {1, 2, 5, 10}

    def __call__(self, x, pos=None):
        label = super().__call__(x, pos)
        m = _MATHTEXT_POWER.fullmatch(label)
        if m:
            sign, coeff, base, exponent = m.groups()
            return f"{sign}{coeff + '×' if coeff else ''}{base}{exponent.translate(SUPERSCRIPT)}"
        m = _MATHTEXT_PLAIN.fullmatch(label)
        return m.group(1) if m else label


class PlainLogFormatter(SuperscriptLogFormatter):
    """:class:`SuperscriptLogFormatter`'s labels (the same ticks get one), written as plain numbers (5, 0.2)
    from 0.01 to 1000, where 5×10⁰ and 2×10⁻¹ are slow to read; beyond, 10⁻⁵ and 3×10⁴ as before."""

    def __call__(self, x, pos=None):
        label = super().__call__(x, pos)
        return f"{x:g}" if label and 0.01 <= abs(x) < 1000 else label


def plain_log_labels(ax, axis="y"):
    """Label the log ``axis`` of ``ax`` with :class:`PlainLogFormatter`: decades, and 2 and 5 x 10^k over up to
    2 decades (the minor labels of :func:`log_scale` with ``minor_labels=True``), as plain numbers from 0.01 to
    1000. Returns ``ax``."""
    ax_axis = getattr(ax, f"{axis}axis")
    ax_axis.set_major_formatter(PlainLogFormatter())
    ax_axis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    return ax


def fast_log_yaxis(ax, numticks=6, minor_decades=4, *, plain=False):
    """Make the y axis of ``ax`` logarithmic and quick to redraw, for an explorer whose axis moves with a slider.

    At most ``numticks`` decades get a label (every second or fifth decade over
    a wide range), minor ticks only over at most ``minor_decades``
    (:class:`FewDecadesLogLocator`), labels without mathtext
    (:class:`SuperscriptLogFormatter`), and labels at some minor ticks over
    up to 2 decades, so that a narrow view is never left with one label. Over 7 decades, drawing the axis took
    21 ms with a label at every decade and 11 ms with one at every second.
    ``plain``: labels from 0.01 to 1000 as plain numbers (:func:`plain_log_labels`).
    """
    log_scale(ax, minor_labels=True)
    ax.yaxis.set_major_locator(SafeLogLocator(numticks=numticks))
    ax.yaxis.set_minor_locator(FewDecadesLogLocator(minor_decades))
    if plain:
        plain_log_labels(ax)
    return ax


def sticky_log_limits(current, low, high, *, min_decades=1.0, min_fill=0.5, pad=0.05, headroom=1.15):
    """Limits of a log axis for data in [``low``, ``high``] that stay put while the data moves a little.

    An explorer redraws its figure at every slider step. Rescaling the axis at
    every step hides the motion (the curve stays where it is and the tick labels
    change), and it forces matplotlib to redraw every tick. So the current
    limits are kept as long as they still show the data well: the data (with a
    margin of ``pad`` of its span) fits inside them, and the data spans at least
    ``min_fill`` of them. Otherwise new limits are chosen: the data plus the
    margin, rounded outwards to a grid of 1/4, 1/2, 1, 2 or 5 decades (coarser
    for a wider span), so that they do not change again at the next small step.
    Data that moved past one limit gets as much room on that side as ``min_fill`` allows.

    Parameters
    ----------
    current : (float, float) or None
        The axis' limits now (None: choose afresh).
    low, high : float
        Smallest and largest positive finite value to show (``0 < low <= high``).
    min_decades : float
        Narrowest span shown, in decades (flat data gets this much room).
    min_fill : float in (0, 1]
        Keep ``current`` only while the data spans at least this fraction of it.
    pad : float >= 0
        Margin above and below the data, as a fraction of its span in decades.
    headroom : float >= 1
        Limits that leave room are at most ``1 / (min_fill * headroom)`` times the data's span apart.

    Returns
    -------
    (float, float): the new limits, ``0 < lo < hi``.

    Raises
    ------
    ValueError
        If ``low``/``high`` are not positive finite numbers with ``low <= high``.
    """
    low, high = float(low), float(high)
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
        raise ValueError(f"low and high must be positive finite numbers with low <= high; got {low!r}, {high!r}")
    d0, d1 = np.log10(low), np.log10(high)
    span = max(d1 - d0, min_decades)
    mid = 0.5 * (d0 + d1)
    need0, need1 = min(d0, mid - span / 2) - pad * span, max(d1, mid + span / 2) + pad * span
    q = _log_step(need1 - need0)
    e0, e1 = float(np.floor(need0 / q) * q), float(np.ceil(need1 / q) * q)
    if current is not None:
        c0, c1 = (float(v) for v in current)
        if 0 < c0 < c1 and np.isfinite(c1):
            l0, l1 = np.log10(c0), np.log10(c1)
            below, above = d0 - pad * span < l0, d1 + pad * span > l1
            if not (below or above) and span >= min_fill * (l1 - l0):
                return c0, c1
            if below != above and d0 < l1 and l0 < d1:  # moved past one limit (rather than jumped)
                # the widest axis the data fills with some to spare, from the other limit towards the crossed one
                room = span / (min_fill * headroom)
                q = _log_step(room)
                r0 = np.floor(need0 / q) * q if above else np.ceil((np.ceil(need1 / q) * q - room) / q) * q
                r1 = np.floor((r0 + room) / q) * q if above else np.ceil(need1 / q) * q
                if r0 <= need0 and need1 <= r1 and -300 < r0 and r1 < 300:  # float64's ends: see below
                    e0, e1 = float(r0), float(r1)
    # near the ends of float64 (1e-308 .. 1.8e308) a power of ten would underflow or overflow: there the
    # data's own extreme is the limit
    lo = 10.0 ** e0 if e0 > -300 else low
    hi = 10.0 ** e1 if e1 < 300 else high
    if not lo < hi:  # flat data at such an extreme
        lo, hi = (low / 2, high) if low / 2 > 0 else (low, high * 2)
    return lo, hi


def _log_step(decades):
    """The grid of a log axis ``decades`` wide: 1/4, 1/2, 1, 2, 5 or 10 decades (at most ~8 steps)."""
    return next((q for q in (0.25, 0.5, 1.0, 2.0, 5.0) if decades <= 8 * q), 10.0)
