"""The canvas of an explorer: frames sent as quick PNGs, and redrawn by blitting.

Private to :mod:`gradviz.widgets` and the explorers: :func:`attach_view` gives an explorer's figure
its canvas and the widget that shows it, :func:`draw` draws it there;
:func:`canvas_class` is ipympl's canvas widget with a faster PNG encoding of its
frames, and :class:`Blitter` redraws only what changed over cached pixels of
the rest (on axis labels pinned by :func:`pin_axis_labels`); :func:`display_bundle`
is what a notebook stores for an explorer (its widget and a PNG for a reader with no kernel);
:func:`wait_until_shown` holds a refinement back until the browser could show the draft's frame.
"""

from __future__ import annotations

import base64
import html
import functools
import gc
import importlib.util
import io
import struct
import time
import warnings
import zlib

import ipywidgets
import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.transforms import Bbox

#: Widest figure (pixels) an explorer's ipympl canvas draws, so it fits a JupyterLab notebook column.
MAX_CANVAS_PX = 960
#: Seconds a browser on the same machine takes to show a frame once it has left the kernel (the server relays
#: it, Chromium loads and decodes it, then paints): 10-35 ms with a core free, up to 150 ms beside a refinement.
SHOW_SECONDS = 0.05


def have_ipympl() -> bool:
    """Whether ipympl is installed (an explorer's ``canvas="auto"`` then takes it)."""
    # find_spec, not import: importing ipympl switches pyplot's backend (see ipympl_canvas_classes)
    return importlib.util.find_spec("ipympl") is not None


def ipympl_canvas_classes():
    """ipympl's Canvas and FigureManager, imported without switching the learner's pyplot backend.

    ``import ipympl`` calls ``matplotlib.use("module://ipympl.backend_nbagg")``
    whenever matplotlib is loaded, which would turn every later ``plt.figure()``
    of the notebook into a widget (and close the open pyplot figures). The
    explorers need only the canvas classes, so that one call is skipped.
    """
    use = mpl.use
    mpl.use = lambda *args, **kwargs: None
    try:
        with warnings.catch_warnings():
            # ipympl's toolbar passes an argument traitlets deprecates; not ours to fix.
            warnings.simplefilter("ignore", DeprecationWarning)
            from ipympl.backend_nbagg import Canvas, FigureManager
    finally:
        mpl.use = use
    return Canvas, FigureManager


@functools.lru_cache(maxsize=1)
def canvas_class():
    """ipympl's canvas widget, sending its frames as quick PNGs (:func:`frame_png`)."""
    Canvas, _ = ipympl_canvas_classes()

    class Canvas1(Canvas):
        def get_diff_image(self):
            # matplotlib's FigureCanvasWebAggCore.get_diff_image with a faster PNG: a full frame when the
            # browser has none yet (or the size changed, or a pixel is transparent), else the pixels that
            # changed, with 0 (transparent: the browser keeps what it shows) everywhere else
            if not self._png_is_old:
                return None
            pixels = np.asarray(self.get_renderer().buffer_rgba())
            buff = pixels.view(np.uint32).squeeze(2)
            if self._force_full or buff.shape != self._last_buff.shape or (pixels[:, :, 3] != 255).any():
                self.set_image_mode("full")
                frame = buff
            else:
                self.set_image_mode("diff")
                frame = np.where(buff != self._last_buff, buff, 0)
            self._last_buff = buff.copy()
            self._force_full = self._png_is_old = False
            png = frame_png(frame.view(np.uint8).reshape(*frame.shape, 4))
            self.frame_sent = time.perf_counter()
            return png

    return Canvas1


def frame_png(rgba, level=1) -> bytes:
    """An RGBA image (uint8 array of shape (height, width, 4)) as a PNG, unfiltered and compressed at zlib
    ``level``: an explorer's frame, which travels to a browser on the same machine, so encoding time is what
    the learner waits for.

    The PNG format (ISO/IEC 15948, W3C PNG 2nd ed.): the signature, an IHDR chunk (8-bit RGBA, colour type
    6), one IDAT chunk of zlib-compressed scanlines each led by its filter type (0: none), and IEND. Pillow
    writes the same pixels but chooses a filter for every scanline, at any compression level: for a
    960 x 412 frame of which a few thousand pixels changed (the rest 0), Pillow took 9.3 ms at level 1 and
    this 4.5 ms, for a PNG a sixth smaller (benchmarks/README.md, "The frame").

    Raises
    ------
    ValueError
        If ``rgba`` is not a uint8 array of shape (height, width, 4).
    """
    rgba = np.asarray(rgba)
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"rgba must be a uint8 array of shape (height, width, 4); got {rgba.dtype} {rgba.shape}")
    height, width, _ = rgba.shape
    scanlines = np.zeros((height, 1 + 4 * width), np.uint8)  # column 0: filter type 0 (none)
    scanlines[:, 1:] = rgba.reshape(height, 4 * width)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits, RGBA, deflate, filter 0, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(scanlines, level)) + chunk(b"IEND", b""))  # the array's own buffer


def wait_until_shown(figure, seconds=None) -> None:
    """Sleep until ``seconds`` (default :data:`SHOW_SECONDS`) after ``figure``'s ipympl canvas sent its last frame
    (no wait on another canvas).

    For a refinement, on its worker thread, before it computes: started at once, it took a core (and the GIL)
    from the kernel's sending thread, the server and the browser that were showing the draft. DyingReluExplorer
    in the browser, 40 arrow-key presses alternating without and with this wait (load 4.5): from the draft's
    frame to its pixels, median 32 / 38 ms, p95 157 / 85 ms (``benchmarks/bench_browser.py --trace``).
    """
    sent = getattr(figure.canvas, "frame_sent", None)
    if sent is not None:
        time.sleep(max(0.0, sent + (SHOW_SECONDS if seconds is None else seconds) - time.perf_counter()))


def canvas_dpi(figsize, kind):
    """The dpi to create a figure of ``figsize`` (inches) with, for a canvas of ``kind``
    ('ipympl', 'image', 'none'): None (matplotlib's default) except on ipympl.

    A JupyterLab notebook column holds about :data:`MAX_CANVAS_PX` beside the canvas
    toolbar: a wider figure gets a lower dpi (same layout, smaller pixels) instead of
    being clipped. Given to the constructor, it is also the dpi the canvas scales by a
    high-dpi screen's pixel ratio.
    """
    return min(100.0, MAX_CANVAS_PX / figsize[0]) if kind == "ipympl" else None


def attach_view(figure, kind, key):
    """Give ``figure`` a canvas of ``kind`` and return the widget that shows it.

    'ipympl': ipympl's canvas widget (:func:`canvas_class`), under a figure manager
    numbered ``key`` that is not registered with pyplot (no figure pile-up);
    'image': an Agg canvas and an :class:`ipywidgets.Image` that :func:`draw` fills
    with PNGs; 'none': an Agg canvas and an empty HTML widget.
    """
    if kind == "ipympl":
        Canvas, FigureManager = canvas_class(), ipympl_canvas_classes()[1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # as in ipympl_canvas_classes
            view = Canvas(figure)
            FigureManager(view, key)
        view.header_visible = False
        view.footer_visible = False
        view.resizable = False
        view.toolbar_position = "right"
        return view
    FigureCanvasAgg(figure)
    if kind == "image":
        width = int(figure.get_figwidth() * 100)
        return ipywidgets.Image(format="png", layout=ipywidgets.Layout(width=f"{width}px"))
    return ipywidgets.HTML("")


def draw(figure, view, kind, blitter=None, now=False):
    """Draw ``figure`` (shown by ``view``, from :func:`attach_view`): blit what changed with
    ``blitter`` (a :class:`Blitter`, or None: a full draw).

    On an ipympl canvas, ``now=False`` asks the browser to ask for the frame
    (``draw_idle``: nothing is drawn when no browser shows the canvas, as when a
    notebook runs headless); ``now=True`` (a learner's change) draws and sends the
    frame at once, without that round trip. 'image': a PNG at 100 dpi into the view.
    """
    if blitter is not None:
        blitter.update(now=now)
    elif kind == "ipympl":
        if now:
            figure.canvas.draw()
        else:
            figure.canvas.draw_idle()
    elif kind == "image":
        view.value = png(figure)


def png(figure) -> bytes:
    """``figure`` as a PNG at 100 dpi, as it is now: what an 'image' view shows, and the picture of an
    explorer that a reader without a kernel sees (a full draw of its own: a :class:`Blitter` then redraws
    in full)."""
    with io.BytesIO() as buf:
        figure.savefig(buf, format="png", dpi=100)
        return buf.getvalue()


def display_bundle(widget, figure, name, notes=(), **kwargs) -> dict:
    """What a notebook stores for an explorer: ``widget``'s view (JupyterLab shows it) and, for a reader with
    no kernel (nbconvert, nbviewer, a code-hosting page, ``make site``), a PNG of ``figure`` as it is now
    (:func:`png`), the same PNG as HTML followed by ``notes`` (HTML: what the explorer writes under its
    figure, e.g. its readout; empty ones are left out), and one line of text naming the explorer ``name``.

    Then, as the explorer is about to be used, a full garbage collection (:func:`gc.collect`): the objects a
    notebook's cells made until then otherwise waited for one, which Python runs during whatever allocates
    next, e.g. a learner's change. With the 17 explorers of the browser benchmark alive (300,000 objects), one
    took 150-230 ms in the middle of 16 presses of the dying-ReLU explorer; collected here (150 ms, while the
    cell runs), none came in those presses.
    """
    picture = base64.b64encode(png(figure)).decode("ascii")
    below = "".join(f"<div>{note}</div>" for note in notes if note)
    bundle = {**widget._repr_mimebundle_(**kwargs),
              "text/html": _img(picture, name) + below,
              "image/png": picture,
              "text/plain": f"{name}: an interactive figure (its controls need a running notebook)"}
    gc.collect()
    return bundle


def png_html(figure, alt) -> str:
    """An HTML ``<img>`` of ``figure`` as it is now (:func:`png`, inline), described by ``alt``."""
    return _img(base64.b64encode(png(figure)).decode("ascii"), alt)


def _img(picture, alt):
    return f'<img src="data:image/png;base64,{picture}" alt="{html.escape(alt)}"/>'


def pin_axis_labels(axes):
    """Keep each axis label of ``axes`` where the (frozen) layout put it.

    Otherwise every draw measures every tick label again to place the axis
    labels, and a label moves as its axis' tick labels change width.
    """
    for ax in axes:
        to_axes = ax.transAxes.inverted()
        x, y = ax.xaxis.label.get_position()  # x in axes fraction, y in pixels
        ax.xaxis.set_label_coords(x, to_axes.transform((0.0, y))[1])
        x, y = ax.yaxis.label.get_position()  # x in pixels, y in axes fraction
        ax.yaxis.set_label_coords(to_axes.transform((x, 0.0))[0], y)


class RefiningMark:
    """The note in the top right corner of an Axes saying that the figure shows a first estimate, being refined.

    It shows only on drafts that have been on screen for a delay: a refinement
    that arrives sooner never shows it, so a drag does not blink between marked
    and unmarked frames; once shown, it stays on the drafts that follow until a
    final answer is drawn. Its Text (gid 'refining') is created the first time it shows.
    """

    def __init__(self):
        self.since = None  # when the drafts now on screen began (None: the figure is final)
        self.message = ""
        self.text = None

    def answer(self, final, message="", t0=None):
        """Note the answer about to be drawn: final, or a draft (computed from time ``t0``) saying ``message``."""
        if final:
            self.since = None
            return
        self.message = message
        if self.since is None:
            self.since = t0

    def wait(self, delay):
        """Seconds until the mark is due on the drafts on screen (at most 0: due), or None when the figure is final."""
        return None if self.since is None else delay - (time.perf_counter() - self.since)

    def set(self, ax, on):
        """Show (``on``) or hide the mark, on ``ax`` where it is created."""
        if self.text is None:
            if not on:
                return
            self.text = ax.text(0.99, 0.98, "", transform=ax.transAxes, ha="right", va="top", fontsize=9,
                                color="0.3", style="italic", gid="refining", zorder=6,
                                bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))
            self.text.set_in_layout(False)
        self.text.set_text(self.message if on else "")
        self.text.set_visible(on)


class Blitter:
    """Redraw an ipympl figure by blitting: cached pictures of what did not change, plus what did.

    matplotlib redraws a whole figure at every ``draw``, and for an explorer
    most of that time goes to text that does not change (legends, axis labels,
    tick labels). Following matplotlib's "Faster rendering by using blitting"
    guide, the figure is drawn in layers, each on top of the one before:

    1. background: everything that stays as set up (axes faces, spines,
       legends, axis labels): a full draw in which the artists of the other
       layers are ``animated`` (skipped), plus the axis labels (pinned where the
       frozen layout put them);
    2. 'x': the x axis of each blitted Axes (ticks, grid lines, tick
       labels), one layer per Axes;
    3. 'y': the y axis of each, one layer per Axes;
    4. 'title': the titles of each (those not ``static``), one layer per Axes:
       a title's text is long, and drawing it costs as much as the rest of the
       data, so it is redrawn only when its text or style changes;
    5. 'data': every line, patch, text and collection of those Axes (except
       the ``static`` artists, which stay in the background).

    Layers 1-4 are kept as pixel copies, each with the state it was drawn
    from (limits, scale, ticks; a title's text and style). A change redraws from
    the first layer whose state changed: a new weight scale usually redraws the
    data only, or the last Axes' y axis and the data when its limits move; a
    new depth redraws every axis. (So give the Axes whose y axis moves most
    often last.) Anything else (first draw, resize, zoom, a new dpi or axis
    label) is a full draw by ipympl, which refills the copies. ``last`` says
    where the latest :meth:`update` started: 'data', 'title', 'y', 'x' or 'full'.

    The explorer promises that, after ``setup_figure``, it changes nothing
    outside layers 2-5 (no new legend, no figure-level text) except its
    ``static`` artists (a list, or a callable returning the current ones):
    a static artist replaced by another (a new legend) or whose text changed
    is drawn by a full draw.
    """

    def __init__(self, figure, axes, static=()):
        self.figure, self.canvas, self.axes = figure, figure.canvas, tuple(axes)
        self._static = static if callable(static) else (lambda: static)
        self._static_now = ()  # the static artists of the frame being drawn (asked once per frame: _ask_static)
        # (name, Axes, the Axis it draws (None: the Axes' titles, looked up at each draw: Axes.clear makes new
        # ones), the function giving its state)
        self._layers = ([("x", ax, ax.xaxis, self._x_state) for ax in self.axes]
                        + [("y", ax, ax.yaxis, self._y_state) for ax in self.axes]
                        + [("title", ax, None, self._title_state) for ax in self.axes])
        self._background = None  # pixel copy of layer 1
        self._cached = []  # per layer 2-4: (state, pixel copy with that layer drawn)
        self._figure_state = None
        self.last = None
        self.canvas.mpl_connect("draw_event", self._on_draw)

    @staticmethod
    def _x_state(ax):
        return ax.get_xlim(), ax.get_xscale(), tuple(ax.get_xticks()), tuple(ax.get_xticks(minor=True))

    @staticmethod
    def _y_state(ax):
        return ax.get_ylim(), ax.get_yscale(), tuple(ax.get_yticks()), tuple(ax.get_yticks(minor=True))

    def _titles(self, ax):
        return [t for t in (ax.title, ax._left_title, ax._right_title) if t not in self.static]

    @property
    def static(self) -> frozenset:
        """The artists drawn in the background in the frame being drawn (``static``: a list, or a callable that
        is asked once per frame)."""
        return self._static_now

    def _ask_static(self):
        self._static_now = frozenset(a for a in self._static() if a is not None)

    def _static_key(self):
        # a static artist that was replaced (a new legend) or whose text changed needs a full draw
        key = []
        for a in sorted(self._static_now, key=id):
            texts = a.get_texts() if isinstance(a, Legend) else [a] if isinstance(a, Text) else []
            key.append((id(a), tuple(t.get_text() for t in texts)))
        return tuple(key)

    def _title_state(self, ax):
        return tuple((t.get_text(), t.get_visible(), t.get_position(), t.get_color(), t.get_fontsize(),
                      t.get_fontweight(), t.get_fontstyle(), t.get_alpha()) for t in self._titles(ax))

    def _state(self, layer):
        _, ax, _, state = self._layers[layer]
        return state(ax)

    def _axes_of(self, kind):
        return [(ax, what) for name, ax, what, _ in self._layers if name == kind]

    def _data_artists(self):
        # what Axes.draw draws, less the face, the spines and the two axes: lines, patches, collections,
        # images, texts, the titles, the legend, inset axes (in the order of get_children, then zorder)
        artists, static = [], self.static
        for ax in self.axes:
            frame = {ax.patch, ax.xaxis, ax.yaxis, *ax.spines.values(), ax.title, ax._left_title, ax._right_title}
            artists += [a for a in ax.get_children() if a not in frame and a not in static]
        return sorted(artists, key=lambda a: a.get_zorder())

    def _animate(self):
        # new artists (an overflow band, an explanation) join the data layer before anything is drawn
        for ax, axis in self._axes_of("x") + self._axes_of("y"):
            axis.set_animated(True)
        for ax, _ in self._axes_of("title"):
            for t in self._titles(ax):
                t.set_animated(True)
        for a in self._data_artists():
            a.set_animated(True)

    def _draw(self, artists):
        renderer = self.canvas.get_renderer()
        for a in artists:
            a.draw(renderer)

    @staticmethod
    def _draw_axis(axis, renderer):
        # the axis label is pinned (pin_axis_labels) and lives in the background: drawn once,
        # not at every change of the axis (text is the slow part of a matplotlib draw)
        axis.label.set_visible(False)
        try:
            axis.draw(renderer)
        finally:
            axis.label.set_visible(True)

    def _copy(self):
        # the renderer's whole buffer: figure.bbox can fall short of it by a rounding error (959.99 px),
        # which would leave a column of stale pixels at the edge
        renderer = self.canvas.get_renderer()
        return self.canvas.copy_from_bbox(Bbox.from_extents(0, 0, renderer.width, renderer.height))

    def _redraw_from(self, first):
        """Draw layers ``first``.. on the pixels of the layer before it, caching each."""
        del self._cached[first:]
        renderer = self.canvas.get_renderer()
        for i in range(first, len(self._layers)):
            kind, ax, what, _ = self._layers[i]
            if kind == "title":
                # as Axes.draw does, the title moves up to clear an offset text (1e156) or ticks at the top;
                # that measures every tick label, so only where there is something to clear (else it stays put)
                offset = ax.yaxis.offsetText
                if ((offset.get_visible() and offset.get_text())
                        or ax.xaxis.get_ticks_position() in ("top", "unknown")
                        or ax.xaxis.get_label_position() == "top"):
                    ax._update_title_position(renderer)
                self._draw(self._titles(ax))
            else:
                self._draw_axis(what, renderer)
            self._cached.append((self._state(i), self._copy()))
        self._draw(self._data_artists())

    def _figure_key(self):
        # what the background shows: a change here needs a full draw
        return (self.figure.bbox.bounds, self.figure.dpi,
                tuple((ax.bbox.bounds, ax.get_xlabel(), ax.get_ylabel()) for ax in self.axes), self._static_key())

    def _on_draw(self, event):
        # a full draw of the figure (by ipympl, on the browser's request) drew layer 1: add the others
        if (event.canvas is not self.canvas or self.canvas.is_saving()
                or "draw_path" in vars(event.renderer)):
            # savefig (on this canvas, or on an SVG/PDF one it swaps in) draws every artist itself, and
            # figure.draw_without_rendering() (matplotlib's _draw_disabled puts no-op draw_* methods on the
            # renderer) draws nothing: either way the pixels are not the screen's, so copy none.
            self._background = None
            return
        self._ask_static()
        self._draw([axis.label for _, axis in self._axes_of("x") + self._axes_of("y")])
        self._background = self._copy()
        self._figure_state = self._figure_key()
        self._redraw_from(0)

    def update(self, now=False):
        """Show the artists' current state: blit if the cached layers allow it, else a full draw
        (``now``: at once; else ask for one, ``draw_idle``)."""
        self._ask_static()
        self._animate()
        if self._background is None or self._figure_key() != self._figure_state:
            self._background = None
            self.last = "full"
            if now:
                self.canvas.draw()
            else:
                self.canvas.draw_idle()
            return
        first = next((i for i, (state, _) in enumerate(self._cached) if state != self._state(i)), len(self._layers))
        self.canvas.restore_region(self._background if first == 0 else self._cached[first - 1][1])
        self._redraw_from(first)
        self.canvas.blit(self.figure.bbox)
        self.last = self._layers[first][0] if first < len(self._layers) else "data"
