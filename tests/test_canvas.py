"""The canvas of an explorer (gradviz._canvas): when a refinement may start computing after a draft's frame."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from frontend import learner_sets, settled  # noqa: E402
from gradviz import _canvas  # noqa: E402
from gradviz.chapters import ch03_initialization as ch03  # noqa: E402
from gradviz.chapters import ch04a_dying_relu as ch04a  # noqa: E402
from gradviz.chapters import ch07_playground as ch07  # noqa: E402


def need_ipympl():
    if not _canvas.have_ipympl():
        pytest.skip("ipympl is not installed")


def test_wait_until_shown_sleeps_until_the_browser_had_time_to_show_the_last_frame():
    need_ipympl()
    figure = Figure(figsize=(3, 2))
    _canvas.attach_view(figure, "ipympl", 1)
    figure.canvas.send_binary = lambda data: None  # no browser: the frame goes nowhere
    figure.add_subplot().plot([0, 1])
    figure.canvas.draw()  # a frame, as the browser asks for it
    sent = figure.canvas.frame_sent
    _canvas.wait_until_shown(figure)
    assert time.perf_counter() - sent >= _canvas.SHOW_SECONDS
    t0 = time.perf_counter()
    _canvas.wait_until_shown(figure)  # shown by now: no wait
    assert time.perf_counter() - t0 < 0.5 * _canvas.SHOW_SECONDS
    other = Figure(figsize=(3, 2))
    _canvas.attach_view(other, "image", 2)  # a canvas that sends no frames: no wait
    t0 = time.perf_counter()
    _canvas.wait_until_shown(other)
    assert time.perf_counter() - t0 < 0.5 * _canvas.SHOW_SECONDS


def test_showing_an_explorer_collects_the_garbage_left_so_far():
    """Python otherwise collects it during whatever allocates next: a learner's change (150-230 ms with the
    browser benchmark's 17 explorers alive)."""
    explorer = ch04a.DyingReluExplorer(canvas="none")

    class Node:
        pass

    cycle = Node()
    cycle.me = cycle  # garbage only a collection finds
    gone = weakref.ref(cycle)
    del cycle
    gc.disable()  # no automatic collection meanwhile: the display's own
    try:
        assert gone() is not None
        bundle = explorer._repr_mimebundle_()
        assert gone() is None and "image/png" in bundle
    finally:
        gc.enable()


def _dying_relu():
    return ch04a.DyingReluExplorer(canvas="ipympl"), "lr", [1.0, 2.0]


def _initialization():
    ex = ch03.InitializationExplorer(canvas="ipympl", depth=6, width=32, batch_size=64)
    ex.full_seconds = ex.draft_seconds = 0.0  # every probe is worth a draft, of the smallest slice
    return ex, "weight_scale", [0.8, 0.9]


def _playground():
    ex = ch07.PlaygroundExplorer(canvas="ipympl", progress=False, depth=4, width=32)
    ex.draft_flop = ex.full_seconds = ex.draft_seconds = 0.0  # every initial pass is worth a draft
    return ex, "weight_scale", [0.8, 0.9]


@pytest.mark.parametrize("make", [_dying_relu, _initialization, _playground], ids=lambda f: f.__name__[1:])
def test_a_refinement_computes_only_once_the_browser_could_show_the_draft(make):
    """A refinement started at once took a core from the server and the browser showing the draft (its pixels
    came up to 100 ms later); it waits :data:`gradviz._canvas.SHOW_SECONDS` after the draft's frame, and is
    dropped there, untrained, if the learner has moved on meanwhile."""
    need_ipympl()
    ex, control, (first, second) = make()
    frames = []
    ex.figure.canvas.syncing_data_url = False  # what a live front end's 'initialized' message does
    send = ex.figure.canvas.send_binary
    ex.figure.canvas.send_binary = lambda data: (frames.append((time.perf_counter(), ex.answered)), send(data))
    started = []
    refine = ex.refine

    def timed(values):
        for item in refine(values):
            started.append(time.perf_counter())  # after each item: the first comes after the wait
            yield item

    ex.refine = timed

    async def main():
        learner_sets(ex.controls[control], first)
        await settled(ex)
        draft = [t for t, how in frames if how == "draft"][0]
        assert started[0] - draft >= _canvas.SHOW_SECONDS
        assert frames[-1][1] == "final"
        # a second change while the first refinement waits: that one is dropped before it computes anything
        frames.clear(), started.clear()
        dropped = ex.dropped
        learner_sets(ex.controls[control], second)
        learner_sets(ex.controls[control], first)  # kept (DyingRelu) or cached (the others): answered at once
        await settled(ex)
        assert ex.dropped == dropped + 1 and len(started) == 0  # dropped at the wait, before refine computes
        assert ex.answered == "final"

    asyncio.run(main())
