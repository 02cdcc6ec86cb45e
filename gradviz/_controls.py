"""The values an explorer's control can take, checked before the control is set.

An ipywidgets slider clamps a value outside its range without a word (a depth
of 1000 on a 1..50 slider becomes 50, a seed of -1 becomes 0), and a dropdown
refuses an unknown option with a bare ``TraitError`` that does not list the
options. :func:`check_control` refuses both with a message that names the
control, the value given and what is allowed, as every argument of the package
is checked (see :mod:`gradviz._validate`). The explorers' base class applies it
to every value given to a constructor or to ``update``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import ipywidgets
import numpy as np

__all__ = ["check_control", "check_controls", "check_size", "allowed_values"]

#: Relative slack at the ends of a logarithmic slider: its ends are base**min and base**max,
#: which float rounding can put a hair away from the round number shown (10**log10(5)).
_LOG_END_RTOL = 1e-9


def _options(widget):
    """The values (not the labels) a selection widget offers, or None if ``widget`` is not one."""
    return tuple(widget._options_values) if hasattr(widget, "_options_values") else None


def allowed_values(widget) -> str:
    """What ``widget`` accepts, in words: its options, its range, or the kind of value."""
    options = _options(widget)
    if options is not None:
        return "one of " + ", ".join(map(repr, options))
    if isinstance(widget, ipywidgets.FloatLogSlider):
        return f"a number from {widget.base ** widget.min:.6g} to {widget.base ** widget.max:.6g}"
    if isinstance(widget, (ipywidgets.FloatRangeSlider, ipywidgets.IntRangeSlider)):
        return f"a pair (low, high) with {widget.min:g} <= low <= high <= {widget.max:g}"
    if isinstance(widget, (ipywidgets.IntSlider, ipywidgets.BoundedIntText)):
        return f"an integer from {widget.min} to {widget.max}"
    if isinstance(widget, (ipywidgets.FloatSlider, ipywidgets.BoundedFloatText)):
        return f"a number from {widget.min:g} to {widget.max:g}"
    if isinstance(widget, ipywidgets.IntText):
        return "an integer"
    if isinstance(widget, ipywidgets.FloatText):
        return "a finite number"
    if isinstance(widget, (ipywidgets.Checkbox, ipywidgets.ToggleButton)):
        return "True or False"
    return "a value of its widget"


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value):
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def _same(value, option):
    """``value == option``, except that a bool equals only a bool (True == 1 in Python)."""
    if isinstance(value, (bool, np.bool_)) or isinstance(option, (bool, np.bool_)):
        return isinstance(value, (bool, np.bool_)) and isinstance(option, (bool, np.bool_)) and value == option
    try:
        return bool(value == option)
    except (TypeError, ValueError):  # e.g. an array, whose == is element-wise
        return False


def check_control(name: str, widget, value):
    """Return ``value`` if control ``name`` (an ipywidgets widget) can take it exactly, else raise.

    Selection widgets (dropdowns, toggle buttons, selection sliders) take one of
    their option values; sliders and bounded text boxes a number within their
    range (a logarithmic slider's range is base**min .. base**max; an integer
    control takes an integer); range sliders a pair (low, high) inside their
    range with low <= high; check boxes True or False; unbounded number boxes
    a finite number.

    Raises
    ------
    ValueError
        For a value outside the control's range or options (the message names
        the control, the value and what is allowed).
    TypeError
        For a value of the wrong kind (text for a slider, 2.5 for an integer
        slider, 1 for a check box), or for a control without a value (a button).
    """
    if not hasattr(widget, "value"):
        raise TypeError(f"control {name!r} is a {type(widget).__name__} without a value: it cannot be set")
    allowed = allowed_values(widget)
    options = _options(widget)
    if options is not None:
        if not any(_same(value, o) for o in options):
            raise ValueError(f"{name}={value!r} is not an option of this control; choose {allowed}")
        return value
    if isinstance(widget, (ipywidgets.Checkbox, ipywidgets.ToggleButton)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False; got {value!r}")
        return bool(value)
    if isinstance(widget, (ipywidgets.FloatRangeSlider, ipywidgets.IntRangeSlider)):
        kind = _is_int if isinstance(widget, ipywidgets.IntRangeSlider) else _is_real
        try:
            low, high = value
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be {allowed}; got {value!r}") from None
        if not (kind(low) and kind(high)):
            raise TypeError(f"{name} must be {allowed}; got {value!r}")
        if not (widget.min <= low <= high <= widget.max):
            raise ValueError(f"{name}={value!r} is outside this control's range: {name} must be {allowed}")
        return (low, high)
    integer = isinstance(widget, (ipywidgets.IntSlider, ipywidgets.BoundedIntText, ipywidgets.IntText))
    numeric = integer or isinstance(widget, (ipywidgets.FloatSlider, ipywidgets.FloatLogSlider,
                                             ipywidgets.BoundedFloatText, ipywidgets.FloatText))
    if not numeric:
        return value
    if not (_is_int(value) if integer else _is_real(value)):
        raise TypeError(f"{name} must be {allowed}; got {value!r} of type {type(value).__name__}")
    if not integer and not math.isfinite(value):
        raise ValueError(f"{name}={value!r} is not finite; {name} must be {allowed}")
    if isinstance(widget, ipywidgets.FloatLogSlider):
        low, high = widget.base ** widget.min, widget.base ** widget.max
        inside = low * (1 - _LOG_END_RTOL) <= value <= high * (1 + _LOG_END_RTOL)
    elif hasattr(widget, "min") and hasattr(widget, "max"):
        inside = widget.min <= value <= widget.max
    else:
        inside = True
    if not inside:
        raise ValueError(f"{name}={value!r} is outside this control's range: {name} must be {allowed}")
    return value


def check_controls(owner: str, controls: dict, values: dict) -> dict:
    """``values`` (control name -> value), each checked by :func:`check_control` against ``controls``.

    Raises TypeError for a name that is not a control of ``owner`` (listing the
    controls), and what :func:`check_control` raises for a value.
    """
    unknown = set(values) - set(controls)
    if unknown:
        raise TypeError(f"{owner} has no control {', '.join(sorted(unknown))}; controls: {', '.join(controls)}")
    return {k: check_control(k, controls[k], v) for k, v in values.items()}


def check_size(name: str, value, high: int) -> int:
    """``value`` if it is an integer from 1 to ``high`` (a size that sets a control's range), else raise.

    Raises
    ------
    TypeError
        For a value that is not an integer.
    ValueError
        Outside 1 .. ``high`` (the message gives the limit).
    """
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer from 1 to {high}; got {value!r} of type {type(value).__name__}")
    if not 1 <= value <= high:
        raise ValueError(f"{name} must be an integer from 1 to {high}; got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------- making controls
#: ipywidgets style of every control: the description takes the width it needs.
CONTROL_STYLE = {"description_width": "initial"}


def log_slider(description, low, high, value, *, readout_format=".3g", continuous_update=True):
    """A base-10 logarithmic slider from ``low`` to ``high`` (both > 0) starting at ``value``."""
    return ipywidgets.FloatLogSlider(value=value, base=10, min=np.log10(low), max=np.log10(high), step=0.05,
                               description=description, readout_format=readout_format,
                               continuous_update=continuous_update, style=CONTROL_STYLE)


def int_slider(description, low, high, value, *, step=1, continuous_update=True):
    """An integer slider."""
    return ipywidgets.IntSlider(value=value, min=low, max=high, step=step, description=description,
                          continuous_update=continuous_update, style=CONTROL_STYLE)


def choice(description, options, value=None, *, buttons=False):
    """A dropdown (or toggle buttons) over ``options``: a list of values or of (label, value) pairs."""
    cls = ipywidgets.ToggleButtons if buttons else ipywidgets.Dropdown
    kw = {"style": CONTROL_STYLE} if not buttons else {"style": {"button_width": "auto", **CONTROL_STYLE}}
    w = cls(options=options, description=description, **kw)
    if value is not None:
        w.value = value
    return w


def values_slider(description, options, value, continuous_update=True):
    """A slider over the given ``options`` (e.g. widths 16, 32, 64), starting at ``value``."""
    return ipywidgets.SelectionSlider(options=list(options), value=value, description=description,
                                continuous_update=continuous_update, style=CONTROL_STYLE)
