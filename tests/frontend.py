"""What the browser's front end does to an explorer: the tests' and ``benchmarks/bench_explorer.py``'s one copy.

A learner's change reaches a kernel as ipywidgets' ``set_state`` message, not as
``control.value = ...`` (which is what a notebook cell does, and which an
explorer answers at once and in full). A selection widget (Dropdown,
ToggleButtons, SelectionSlider, ...) sends the index of the chosen option, the
other controls their value. The answer to such a change may come in two steps
(a draft, then the final answer from a worker thread), so a test waits for it
inside an asyncio loop, as a kernel's loop would run.

Plain functions in a tests/ module, not in the package: a learner never needs
them. The tests import it as ``frontend`` (pytest puts tests/ on ``sys.path``,
as for ``gradcheck``); the benchmark puts tests/ on ``sys.path`` itself.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["browser_state", "learner_sets", "settled", "blits_as_full_draws"]


def browser_state(control, value) -> dict:
    """The ``set_state`` message the browser sends when a learner gives ``control`` the value ``value``:
    ``{"index": i}`` of that option for a selection widget, else ``{"value": value}``.

    Raises ValueError if ``value`` is not one of a selection widget's options."""
    if hasattr(control, "options"):
        return {"index": list(getattr(control, "_options_values", control.options)).index(value)}
    return {"value": value}


def learner_sets(control, value):
    """Give ``control`` the value ``value`` as a learner does in the browser (ipywidgets' ``set_state``)."""
    control.set_state(browser_state(control, value))


async def settled(ex, timeout=60.0, poll=0.01):
    """Wait until the explorer ``ex`` shows a final answer and its worker thread is idle, looking every
    ``poll`` seconds; then ``2 * poll`` more, for what the worker posted last (a dropped refinement) to reach
    the loop. Raises TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while ex.answered != "final" or (ex._worker is not None and ex._worker.busy):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no final answer within {timeout:g} s")
        await asyncio.sleep(poll)
    await asyncio.sleep(2 * poll)


def blits_as_full_draws(explorer, changes) -> list:
    """Give an explorer on an ipympl canvas each dict of ``changes`` in turn (``explorer.update``), as a browser that
    has shown the canvas would see it, and check that each blitted picture is, pixel for pixel, what a full draw of
    the same state gives (AssertionError naming the change if not). Returns where each redraw began
    (``Blitter.last``: 'data', 'title', 'y', 'x' or 'full')."""
    import numpy as np

    canvas = explorer.figure.canvas
    canvas.syncing_data_url = False  # as once a browser has shown the canvas
    canvas.draw()  # what ipympl does when the browser asks for the first frame
    began = []
    for change in changes:
        explorer.update(**change)
        began.append(explorer._blitter.last)
        if began[-1] == "full":
            canvas.draw()
        blitted = np.asarray(canvas.buffer_rgba()).copy()
        canvas.draw()
        np.testing.assert_array_equal(blitted, np.asarray(canvas.buffer_rgba()), err_msg=f"after {change}")
    return began
