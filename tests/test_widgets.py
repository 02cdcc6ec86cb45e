"""The explorers driven as a learner would, without a browser: set controls, read the figure back."""

from __future__ import annotations

import asyncio
import threading
import time

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from gradviz import _live, widgets  # noqa: E402
from gradviz.chapters import ch02_vanishing_exploding as ch02  # noqa: E402
from gradviz.chapters import ch03_initialization  # noqa: E402
from gradviz.chapters import ch07_playground as ch07  # noqa: E402
from gradviz.network import MLP  # noqa: E402
from gradviz.stats import combine_stats, probe  # noqa: E402

from frontend import learner_sets, settled  # noqa: E402


def need_ipympl():
    """Skip without ipympl. Not pytest.importorskip: importing ipympl switches pyplot's backend."""
    if not widgets._canvas.have_ipympl():
        pytest.skip("ipympl is not installed")


def line(ax, gid):
    (ln,) = [x for x in ax.lines if x.get_gid() == gid]
    return ln


def gids(ax, gid):
    return [a for a in list(ax.lines) + list(ax.patches) + list(ax.texts) if a.get_gid() == gid]


@pytest.fixture
def deep():
    ex = widgets.DeepNetworkExplorer(canvas="none", max_depth=12, depth=4, width=16, batch_size=32)
    ex.figure.canvas.draw()
    return ex


def test_deep_explorer_depth_changes_number_of_points(deep):
    assert len(line(deep.ax_var, "measured:a").get_xdata()) == 4
    deep.controls["depth"].value = 9
    for gid in ("measured:a", "measured:da", "predicted:a", "predicted:da"):
        np.testing.assert_array_equal(line(deep.ax_var, gid).get_xdata(), np.arange(1, 10))
    assert len(line(deep.ax_frac, "fraction:saturated").get_xdata()) == 9
    assert deep.ax_var.get_xlim() == (0.5, 9.5)
    deep.figure.canvas.draw()


def test_deep_explorer_matches_a_directly_built_network(deep):
    deep.update(activation="relu", init="he_normal", weight_scale=0.7, seed=3)
    net = MLP(16, depth=4, width=16, activation="relu", init="he_normal", weight_scale=0.7, n_outputs=None,
              seed=3, dtype=np.float32)
    ref = probe(net, batch_size=32, seed=3)
    np.testing.assert_allclose(line(deep.ax_var, "measured:a").get_ydata(), ref.a_var, rtol=1e-4)
    np.testing.assert_allclose(line(deep.ax_var, "measured:da").get_ydata(), ref.da_var, rtol=1e-4)


def test_gradient_falls_when_weight_scale_falls(deep):
    deep.update(activation="relu", init="auto", depth=8)
    g1 = line(deep.ax_var, "measured:da").get_ydata()[0]
    p1 = line(deep.ax_var, "predicted:da").get_ydata()[0]
    deep.controls["weight_scale"].value = 0.5
    g2 = line(deep.ax_var, "measured:da").get_ydata()[0]
    p2 = line(deep.ax_var, "predicted:da").get_ydata()[0]
    assert g2 < g1 * 1e-2 and p2 < p1 * 1e-2
    assert "vanishes" in deep.readout.value


def test_every_deep_control_changes_the_figure(deep):
    def snapshot():
        return np.concatenate([line(deep.ax_var, "measured:a").get_ydata(),
                               line(deep.ax_var, "measured:da").get_ydata()])

    new_values = {"width": 32, "activation": "sigmoid", "init": "lecun_normal", "weight_scale": 2.0,
                  "seed": 7, "batch_size": 64, "batch_norm": "before", "depth": 5}
    assert set(new_values) == set(deep.controls)
    for name, value in new_values.items():
        before = snapshot()
        deep.controls[name].value = value
        after = snapshot()
        assert before.shape != after.shape or not np.allclose(before, after, equal_nan=True, atol=0), name
    # with batch norm there is no prediction, and the figure says why
    assert np.isnan(line(deep.ax_var, "predicted:a").get_ydata()).all()
    assert any("batch norm" in t.get_text() for t in gids(deep.ax_var, "note"))
    deep.controls["batch_norm"].value = "after"
    deep.controls["batch_norm"].value = "off"
    assert np.isfinite(line(deep.ax_var, "predicted:a").get_ydata()).all()


def test_zero_init_is_explained_not_raised(deep):
    deep.controls["init"].value = "zeros"
    assert any("symmetry" in t.get_text() for t in gids(deep.ax_var, "explain"))
    deep.controls["init"].value = "auto"
    assert gids(deep.ax_var, "explain") == []


def test_overflow_is_marked():
    # float32 overflows near 3.4e38: ReLU with 10x He weights grows the std ~10x per layer
    deep = widgets.DeepNetworkExplorer(canvas="none", depth=45, width=16, batch_size=16, activation="relu",
                                       init="he_normal", weight_scale=10.0)
    assert deep.stats.first_nonfinite is not None
    k = deep.stats.first_nonfinite
    texts = [t.get_text() for t in gids(deep.ax_var, "overflow") if hasattr(t, "get_text")]
    assert any(f"overflow at layer {k}" in t for t in texts)
    assert np.isnan(line(deep.ax_var, "measured:a").get_ydata()[k - 1:]).all()
    assert "Overflow" in deep.readout.value
    deep.figure.canvas.draw()


def test_results_are_cached_by_configuration(deep):
    deep.controls["depth"].value = 6
    assert deep.timings["cached"] is False
    deep.controls["depth"].value = 4
    assert deep.timings["cached"] is True


def test_update_rejects_unknown_control(deep):
    with pytest.raises(TypeError, match="no control"):
        deep.update(dpeth=3)
    with pytest.raises(ValueError, match="canvas"):
        widgets.DeepNetworkExplorer(canvas="svg")


def test_activation_explorer_every_control():
    ex = widgets.ActivationExplorer(canvas="none")
    assert ex.controls["alpha"].disabled  # sigmoid has no alpha
    assert "0.997527" in ex.readout.value  # sigma(6)
    phi = line(ex.ax, "phi")
    ex.controls["activation"].value = "elu"
    assert not ex.controls["alpha"].disabled and ex.controls["alpha"].value == 1.0
    y1 = phi.get_ydata().copy()
    ex.controls["alpha"].value = 2.0
    assert phi.get_ydata().min() < y1.min()  # elu's negative saturation value is -alpha
    ex.controls["x_range"].value = (-3.0, 2.0)
    assert phi.get_xdata()[0] == -3.0 and phi.get_xdata()[-1] == 2.0
    ex.controls["z1"].value = 1.0
    ex.controls["z2"].value = -2.0
    xs = line(ex.ax, "marks").get_xdata()
    assert set(xs) == {1.0, -2.0}
    ex.controls["activation"].value = "tanh"
    assert ex.controls["alpha"].disabled
    assert len(gids(ex.ax, "saturation")) == 1  # tanh saturates for |z| > 2.18: only the left tail is in (-3, 2)
    ex.controls["x_range"].value = (-10.0, 10.0)
    assert len(gids(ex.ax, "saturation")) == 2
    ex.figure.canvas.draw()


def test_activation_explorer_readout_sigmoid_6_vs_1000():
    ex = widgets.ActivationExplorer(canvas="none", z1=6.0, z2=1000.0)
    html = ex.readout.value
    assert "z = 1000" in html and "0.00246651" in html


def test_training_explorer_run_cache_overlay_clear(capsys):
    ex = ch07.explorers.TrainingExplorer(canvas="none", progress=False, depth=1, width=16, steps=50, batch_size=32)
    assert "not trained yet" in ex.status.value
    ex.controls["run"].click()
    assert len(ex.runs) == 1 and len(ex.cache) == 1
    label = next(iter(ex.runs))
    loss = line(ex.ax_loss, f"loss:{label}")
    assert len(loss.get_xdata()) == 50
    ex.controls["run"].click()  # same configuration: from the cache, no new run
    assert len(ex.cache) == 1 and len(ex.runs) == 1
    ex.update(lr=0.5, weight_scale=0.5, activation="tanh", init="glorot_normal", batch_norm="after", seed=1,
              batch_size=16, width=32, depth=2, steps=50)
    assert "not trained yet" in ex.status.value
    ex.run()
    assert len(ex.runs) == 2 and len(ex.cache) == 2
    assert len([ln for ln in ex.ax_loss.lines if str(ln.get_gid()).startswith("loss:")]) == 2
    assert ex.ax_grad.collections  # heatmap of the last run
    ex.update(lr=0.1, weight_scale=1.0, activation="relu", init="auto", batch_norm="off", seed=0, batch_size=32,
              width=16, depth=1)
    assert "trained before" in ex.status.value
    ex.controls["clear"].click()
    assert ex.runs == {} and len(ex.cache) == 2
    ex.figure.canvas.draw()
    out = capsys.readouterr()
    assert out.out == ""  # nothing printed: no stray reprs


def test_display():
    ex = widgets.ActivationExplorer(canvas="image")
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert ex._view.value[:8] == b"\x89PNG\r\n\x1a\n"  # the PNG fallback was rendered


def test_display_carries_the_first_frame_for_readers_without_a_kernel():
    """nbconvert, nbviewer and code-hosting pages cannot run the widget: they show the PNG beside it,
    which is the figure as it is when displayed (here: what the image canvas shows), and no VBox(...) text."""
    import base64

    ex = widgets.ActivationExplorer(canvas="image", z1=2.0)
    bundle = ex._repr_mimebundle_()
    png = base64.b64decode(bundle["image/png"])
    assert png == ex._view.value
    assert bundle["text/plain"] == "ActivationExplorer: an interactive figure (its controls need a running notebook)"
    # the same picture as HTML, followed by the table the live explorer writes under its figure
    html = bundle["text/html"]
    assert html.startswith(f'<img src="data:image/png;base64,{bundle["image/png"]}"')
    assert ex.readout.value and html.endswith(f"<div>{ex.readout.value}</div>")


def test_ipympl_canvas_if_available():
    need_ipympl()
    import matplotlib.pyplot as plt

    ex = widgets.DeepNetworkExplorer(canvas="ipympl", max_depth=6, depth=3, width=8, batch_size=16)
    assert ex.figure.canvas is ex._view
    ex.controls["depth"].value = 5
    assert len(line(ex.ax_var, "measured:a").get_xdata()) == 5
    assert plt.get_fignums() == []  # not registered with pyplot: no figure pile-up


def test_a_small_explorer_takes_a_few_lines():
    class LR(widgets.Explorer):
        figsize = (4, 3)

        def make_controls(self):
            return {"lr": widgets.log_slider("learning rate", 1e-3, 1.0, 0.1)}

        def setup_figure(self, fig):
            self.ax = fig.subplots()
            (self.line,) = self.ax.plot([], [])

        def refresh(self, lr):
            steps = np.arange(20)
            self.line.set_data(steps, (1 - lr) ** steps)
            self.autoscale(self.ax)

    ex = LR(canvas="none")
    ex.controls["lr"].value = 0.5
    assert ex.line.get_ydata()[1] == pytest.approx(0.5, rel=1e-12, abs=0)


def test_variance_axis_rescales_after_the_layout_is_frozen():
    # Regression: freezing the layout (and the fallback/explanation limits) called set_ylim, which switched
    # autoscaling off, so the log axis kept its first limits and deep sigmoid gradients fell off the plot.
    ex = widgets.DeepNetworkExplorer(canvas="none", max_depth=30, depth=4, width=16, batch_size=32)
    ex.update(activation="sigmoid", init="glorot_uniform", depth=30)
    low = np.nanmin(line(ex.ax_var, "measured:da").get_ydata())
    assert ex.ax_var.get_ylim()[0] <= low
    ex.update(init="zeros")  # message: fixed limits
    ex.update(init="glorot_uniform")
    assert ex.ax_var.get_ylim()[0] <= low


# ----------------------------------------------------------------------------- blitting (ipympl canvas)
def _pixels(canvas):
    return np.asarray(canvas.buffer_rgba()).copy()


@pytest.mark.parametrize("cls", [widgets.DeepNetworkExplorer, ch02.GradientFlowExplorer,
                                 ch03_initialization.InitializationExplorer])
def test_blitted_frames_equal_full_draws(cls):
    # Every way the blitter can redraw (data only; the last y axis; every axis; a full draw) must give
    # exactly the pixels of a full draw of the same state, including an overflow band and an explanation.
    need_ipympl()
    ex = cls(canvas="ipympl", max_depth=40, depth=4, width=16)
    canvas = ex.figure.canvas
    canvas.syncing_data_url = False  # as once a browser has shown the canvas
    canvas.draw()  # what ipympl does when the browser asks for the first frame
    changes = [dict(weight_scale=1.02), dict(weight_scale=0.98), dict(weight_scale=0.3), dict(depth=6),
               dict(seed=3), dict(activation="relu"), dict(weight_scale=8.0, depth=40), dict(init="zeros"),
               dict(init="auto", weight_scale=1.0, depth=5),
               # the explanation's fixed limits, then data inside them: the minor ticks must follow
               dict(activation="sigmoid", init="zeros"), dict(init="auto", weight_scale=0.3)]
    seen = set()
    for change in changes:
        ex.update(**change)
        seen.add(ex._blitter.last)
        if ex._blitter.last == "full":
            canvas.draw()
        blitted = _pixels(canvas)
        canvas.draw()
        np.testing.assert_array_equal(blitted, _pixels(canvas), err_msg=f"after {change}")
    if cls is ch03_initialization.InitializationExplorer:  # its x axes stay at layers 1..max_depth
        assert {"data", "y"} <= seen and "x" not in seen
    else:
        assert {"data", "y", "x"} <= seen


def notebook_explorers():
    """Every public explorer of the chapter modules, and the shared ActivationExplorer (chapter 04b shows it)."""
    from gradviz import chapters

    found = [getattr(m, n) for m in chapters.load_all() for n in getattr(m, "__all__", ())]
    found = [c for c in found if isinstance(c, type) and issubclass(c, widgets.Explorer)]
    return [pytest.param(c, id=c.__name__) for c in found + [widgets.ActivationExplorer]]


def random_value(control, rng):
    """A random value of any control an explorer has (None for a button)."""
    name = type(control).__name__
    if hasattr(control, "options"):
        options = list(getattr(control, "_options_values", control.options))
        return options[rng.integers(len(options))]
    if name == "Checkbox":
        return not control.value
    if not hasattr(control, "max"):
        return None
    if isinstance(control.value, tuple):
        return tuple(float(v) for v in sorted(rng.uniform(control.min, control.max, 2)))
    v = rng.uniform(control.min, control.max)
    if hasattr(control, "base"):
        return float(control.base ** v)
    return int(round(v)) if "Int" in name else float(v)


@pytest.mark.parametrize("cls", notebook_explorers())
def test_every_explorer_blits_what_a_full_draw_would_draw(cls):
    # An explorer blits by default: a control set at random, eight times, must give the pixels of a full draw.
    # An explorer that changes more than its Axes hold sets blit = False (and is then drawn in full).
    need_ipympl()
    import inspect

    kwargs = {"progress": False} if "progress" in inspect.signature(cls.__init__).parameters else {}
    ex = cls(canvas="ipympl", **kwargs)
    if ex._blitter is None:
        assert not (ex.blit and ex.freeze_layout), "an explorer with a frozen layout blits"
        return
    canvas = ex.figure.canvas
    canvas.syncing_data_url = False
    canvas.draw()
    rng = np.random.default_rng(sum(map(ord, cls.__name__)))
    names = [k for k, c in ex.controls.items() if random_value(c, rng) is not None and not c.disabled]
    for _ in range(8):
        name = names[rng.integers(len(names))]
        value = random_value(ex.controls[name], rng)
        ex.update(**{name: value})
        if ex._blitter.last == "full":
            canvas.draw()
        blitted = _pixels(canvas)
        canvas.draw()
        np.testing.assert_array_equal(blitted, _pixels(canvas), err_msg=f"{cls.__name__}: after {name}={value!r}")


def test_blitting_still_sends_frames_and_saves_every_artist(tmp_path):
    need_ipympl()
    ex = widgets.DeepNetworkExplorer(canvas="ipympl", depth=4, width=16)
    canvas = ex.figure.canvas
    canvas.syncing_data_url = False
    sent = []
    canvas.send_binary = sent.append  # a frame to the browser
    canvas.draw()
    n = len(sent)
    ex.controls["weight_scale"].value = 1.05
    assert ex._blitter.last == "data" and len(sent) == n + 1  # a blit sends a frame at once
    # savefig (the toolbar's download, or a notebook cell) draws the animated artists too
    ex.figure.savefig(tmp_path / "a.png")
    for ln in ex.lines.values():
        ln.set_visible(False)
    ex.figure.savefig(tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "b.png").read_bytes()
    # after a savefig, the next change asks for a full draw instead of blitting on stale copies
    ex.controls["weight_scale"].value = 1.1
    assert ex._blitter.last == "full"
    # savefig swaps in another canvas for vector formats; that must work too, and blitting resume after
    for fmt in ("svg", "pdf"):
        canvas.draw()
        ex.figure.savefig(tmp_path / f"c.{fmt}")
        assert (tmp_path / f"c.{fmt}").stat().st_size > 1000
        ex.controls["weight_scale"].value *= 1.01
        assert ex._blitter.last == "full"
    # draw_without_rendering (matplotlib's way to measure text) draws nothing: no copies of a blank canvas
    canvas.draw()
    ex.figure.draw_without_rendering()
    ex.controls["weight_scale"].value *= 1.01
    assert ex._blitter.last == "full"


def test_frames_decode_to_the_canvas_pixels():
    """The PNGs the canvas sends (gradviz._canvas.frame_png): a full frame is the canvas; a diff frame, laid
    over the frame before as the browser does (its 0 pixels transparent), is the canvas again."""
    need_ipympl()
    import io

    from PIL import Image

    ex = widgets.DeepNetworkExplorer(canvas="ipympl", depth=4, width=16)
    canvas = ex.figure.canvas
    canvas.syncing_data_url = False
    sent = []
    canvas.send_binary = sent.append
    canvas.draw()

    def decoded():
        return np.asarray(Image.open(io.BytesIO(sent[-1])).convert("RGBA"))

    def pixels():
        return np.asarray(canvas.get_renderer().buffer_rgba())

    screen = decoded()
    assert np.array_equal(screen, pixels())
    for scale in (1.05, 3.0, 0.3):
        ex.controls["weight_scale"].value = scale
        diff = decoded()
        assert 0 < np.count_nonzero(diff[..., 3]) < diff.shape[0] * diff.shape[1]  # a diff, not a full frame
        screen = np.where(diff[..., 3:] == 0, screen, diff)
        assert np.array_equal(screen, pixels())
    with pytest.raises(ValueError, match="rgba must be a uint8 array"):
        widgets._canvas.frame_png(np.zeros((4, 4, 3), np.uint8))


def test_a_static_legend_is_drawn_once_and_in_full_when_its_entries_change():
    need_ipympl()
    ex = widgets.ActivationExplorer(canvas="ipympl")
    canvas = ex.figure.canvas
    canvas.syncing_data_url = False
    canvas.send_binary = lambda data: None
    canvas.draw()
    legend = ex.ax.get_legend()
    assert legend in ex._blitter.static and legend not in ex._blitter._data_artists()
    ex.update(x_range=(-6.0, 6.0))  # same entries: the legend is kept, and the frame blitted
    assert ex.ax.get_legend() is legend and ex._blitter.last == "x"
    ex.update(activation="relu")  # no saturated tails: a legend without the shading's entry, drawn in full
    assert ex.ax.get_legend() is not legend and ex._blitter.last == "full"
    assert [t.get_text() for t in ex.ax.get_legend().get_texts()] == [ex.phi.get_label(), ex.dphi.get_label()]


def test_a_static_artist_without_text_stays_in_the_background():
    # a contour set's get_text is its labeller, not a string: the Blitter keys it by identity only
    need_ipympl()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    widgets._canvas.attach_view(fig, "ipympl", 1)
    fig.canvas.syncing_data_url = False
    fig.canvas.send_binary = lambda data: None
    ax = fig.subplots()
    contours = ax.contour(np.arange(16.0).reshape(4, 4))
    (line,) = ax.plot([0, 3], [0, 3])
    blitter = widgets._canvas.Blitter(fig, [ax], static=[contours])
    fig.canvas.draw()
    line.set_ydata([3, 0])
    blitter.update(now=True)
    assert blitter.last == "data" and contours not in blitter._data_artists()


def test_no_blitting_without_ipympl_or_with_a_live_layout():
    ex = widgets.DeepNetworkExplorer(canvas="none", depth=3, width=8)
    assert ex._blitter is None
    assert not any(ln.get_animated() for ln in ex.ax_var.lines)


def test_variance_axis_holds_still_for_a_small_step_and_follows_a_large_one():
    ex = widgets.DeepNetworkExplorer(canvas="none", depth=10, width=64, batch_size=64)
    ylim = ex.ax_var.get_ylim()
    ex.controls["weight_scale"].value = 1.02
    assert ex.ax_var.get_ylim() == ylim  # the curves move, the axis does not
    ex.update(activation="relu", init="he_normal", weight_scale=2.0)
    da = line(ex.ax_var, "measured:da").get_ydata()
    a = line(ex.ax_var, "measured:a").get_ydata()
    lo, hi = ex.ax_var.get_ylim()
    assert lo <= min(np.nanmin(a), np.nanmin(da)) and max(np.nanmax(a), np.nanmax(da)) <= hi
    # many decades: no minor ticks (a grey comb, and slow to draw); a few decades: minor ticks
    assert np.log10(hi / lo) > 4 and len(ex.ax_var.yaxis.get_minorticklocs()) == 0
    ex.update(activation="tanh", init="auto", weight_scale=1.0)
    lo, hi = ex.ax_var.get_ylim()
    assert np.log10(hi / lo) <= 4 and len(ex.ax_var.yaxis.get_minorticklocs()) > 0


def test_an_ipympl_explorer_leaves_the_pyplot_backend_alone():
    # Importing ipympl calls matplotlib.use(ipympl); an explorer must not switch a learner's inline plots.
    need_ipympl()
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    widgets.DeepNetworkExplorer(canvas="ipympl", max_depth=4, depth=3, width=8, batch_size=16)
    assert matplotlib.get_backend() == before
    assert plt.get_fignums() == []


# ----------------------------------------------------------------------------- progressive answers
def hold_refinements(ex, when):
    """Refinements of ``ex`` wait after their slice i when ``when(values, i)``, until ``gate`` is set;
    ``gate.waiting`` is set once one waits."""
    gate = threading.Event()
    gate.waiting = threading.Event()
    refine = ex.refine

    def held(values):
        for i, item in enumerate(refine(values)):
            if when(values, i):
                gate.waiting.set()
                gate.wait(10)
            yield item

    ex.refine = held
    return gate


def always_draft(ex):
    ex.full_seconds = ex.draft_seconds = 0.0  # every probe is worth a draft, of the smallest slice
    return ex


def test_code_gets_the_final_answer_at_once_even_inside_a_kernels_loop():
    async def main():
        ex = always_draft(widgets.DeepNetworkExplorer(canvas="none", depth=5, width=16, batch_size=256))
        ex.update(weight_scale=0.8)  # a notebook cell: not the browser
        assert ex.answered == "final" and ex.stats.n_examples == 256 and ex._worker is None
        ex.controls["weight_scale"].value = 0.9
        assert ex.answered == "final" and ex.stats.n_examples == 256

    asyncio.run(main())


def test_a_learners_change_is_answered_from_a_slice_then_from_the_whole_batch():
    async def main():
        ex = always_draft(widgets.DeepNetworkExplorer(canvas="none", depth=6, width=32, batch_size=256))
        learner_sets(ex.controls["weight_scale"], 0.8)
        # the first frame: the first 32 examples of the batch, the same numbers as a probe of them
        assert ex.answered == "draft" and ex.stats.n_examples == 32
        net = MLP(32, depth=6, width=32, activation="tanh", weight_scale=0.8, n_outputs=None, dtype=np.float32)
        draft = probe(net, batch_size=256, seed=0, rows=slice(0, 32))
        np.testing.assert_allclose(line(ex.ax_var, "measured:a").get_ydata(), draft.a_var, rtol=1e-4)
        await settled(ex)
        # then the whole batch, computed on the worker thread in slices
        full = probe(net, batch_size=256, seed=0)
        assert ex.stats.n_examples == 256 and ex.dropped == 0
        for q in ("a", "da"):
            np.testing.assert_allclose(line(ex.ax_var, f"measured:{q}").get_ydata(), getattr(full, f"{q}_var"),
                                       rtol=1e-4)
        learner_sets(ex.controls["weight_scale"], 0.8 * 1.0001)
        learner_sets(ex.controls["weight_scale"], 0.8)  # back to a value refined before: final at once
        assert ex.answered == "final" and ex.stats.n_examples == 256
        await settled(ex)  # the refinement of 0.8 x 1.0001 finishes, and is dropped
        assert ex.dropped == 1 and ex.stats.n_examples == 256

    asyncio.run(main())


def test_a_learners_whole_batch_probe_is_split_over_two_threads_and_code_gets_the_one_thread_probe(monkeypatch):
    from gradviz import _probing

    async def main():
        ex = widgets.DeepNetworkExplorer(canvas="none", depth=6, width=32, batch_size=256)
        ex.full_seconds = 1e9  # answer at once (no draft): the whole batch on the kernel's thread and a helper
        threads = set()
        probe_here = ex._probes._probe_here
        ex._probes._probe_here = lambda *a: (threads.add(threading.current_thread().name), probe_here(*a))[1]
        learner_sets(ex.controls["weight_scale"], 0.7)
        assert ex.answered == "final" and not threads  # 128 x 32 values per half: not worth a second thread
        monkeypatch.setattr(_probing, "MIN_HALF_VALUES", 128 * 32)
        learner_sets(ex.controls["weight_scale"], 0.8)
        assert ex.answered == "final" and ex.stats.n_examples == 256 and ex._worker is None
        assert len(threads) == 1 and next(iter(threads)).startswith("gradviz-probe")  # the second half
        net = MLP(32, depth=6, width=32, activation="tanh", weight_scale=0.8, n_outputs=None, dtype=np.float32)
        whole = probe(net, batch_size=256, seed=0)
        for q in ("a_var", "da_var", "saturated_fraction"):
            np.testing.assert_allclose(getattr(ex.stats, q), getattr(whole, q), rtol=1e-5)  # float32 rounding
        # a change made by code: one thread, bit for bit what gradviz.stats.probe gives
        ex.update(weight_scale=0.9)
        net = ex.network(depth=6, width=32, activation="tanh", init="auto", weight_scale=0.9, batch_norm="off", seed=0)
        whole = probe(net, batch_size=256, seed=0)
        np.testing.assert_array_equal(ex.stats.a_var, whole.a_var)
        np.testing.assert_array_equal(ex.stats.da_var, whole.da_var)
        assert len(threads) == 1
        # with batch norm (which couples the examples) a learner's probe is not split
        bn = ex.controls["batch_norm"]
        learner_sets(bn, "before")  # as the browser sends it: the option's index
        assert bn.value == "before" and ex.answered == "final" and ex.stats.n_examples == 256
        assert len(threads) == 1

    asyncio.run(main())


def test_a_refinement_that_fails_says_so_on_the_figure_and_keeps_the_first_estimate():
    async def main():
        ex = always_draft(widgets.DeepNetworkExplorer(canvas="none", depth=4, width=16, batch_size=128))

        def failing(values):
            yield None
            raise FloatingPointError("no memory left, say")

        ex.refine = failing
        errors = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context["exception"]))
        learner_sets(ex.controls["weight_scale"], 0.5)
        assert ex.answered == "draft" and ex.stats.n_examples == 32
        deadline = time.monotonic() + 10
        while not errors:
            assert time.monotonic() < deadline, "the failure never reached the kernel's loop"
            await asyncio.sleep(0.01)
        mark = ex._mark.text
        assert mark is not None and mark.get_visible()
        assert mark.get_text() == "could not refine (FloatingPointError): first estimate"
        assert isinstance(errors[0], FloatingPointError)  # and it is reported, as a callback's error is
        assert ex.answered == "draft" and ex.stats.n_examples == 32

    asyncio.run(main())


def test_the_probe_speed_is_learned_from_whole_batches_only():
    async def main():
        ex = widgets.DeepNetworkExplorer(canvas="none", depth=20, width=128, batch_size=256)
        ex._flops = 1e6  # so slow that every change is worth a draft
        learner_sets(ex.controls["weight_scale"], 0.8)
        assert ex.answered == "draft" and ex._flops == 1e6  # a draft's slice teaches nothing
        await settled(ex)
        ex._flops = 1e15  # so fast that a change is answered in one piece: that whole batch is timed
        learner_sets(ex.controls["weight_scale"], 0.9)
        assert ex.answered == "final" and ex.stats.n_examples == 256
        assert 1e6 < ex._flops < 1e15

    asyncio.run(main())


def test_a_shapes_learned_time_starts_from_the_estimate_at_the_explorers_speed():
    """_learn averages each whole answer into the time of its shape, starting from the estimate at the learned FLOP/s:
    one slow first answer (fresh memory) no longer decides alone that the next press gets a draft."""
    ex = widgets.DeepNetworkExplorer(canvas="none", depth=2, width=8, batch_size=16)
    ex._flops = 1e10
    key = (50, 256, "tanh", "off", 256)
    estimate = ex.probe_flop(50, 256, 256) / 1e10  # 0.336 s
    ex._learn(50, 256, "tanh", "off", 256, 0.1)
    assert ex._seconds[key] == pytest.approx(0.5 * estimate + 0.05, rel=1e-12, abs=0)
    ex._learn(50, 256, "tanh", "off", 256, 0.1)
    assert ex._seconds[key] == pytest.approx(0.25 * estimate + 0.075, rel=1e-12, abs=0)


def test_an_answer_to_code_readies_the_learners_second_thread():
    """After an answer to code (the first figure), the helper thread of a learner's split probe builds its network
    and probes its half in the background: at 50 x 256 x 256 a learner's first press otherwise paid for it (80-110 ms
    of probe against 37-57 after), and the time it taught kept the next presses on drafts."""
    from gradviz import _probing

    ex = widgets.DeepNetworkExplorer(canvas="none", depth=4, width=256, batch_size=256)
    assert ex.probe_flop(4, 256, 256) == 4 * 4 * 256 * 256 * 256  # the two products of every layer
    held = _probing._helpers()["probe"].submit(lambda: getattr(ex._probes._local, "network", None)).result()
    assert held is not None and held[0] == (4, 256, "tanh", "glorot_uniform", "off", 0)
    z, a = held[1].blocks[0].cache  # the helper's network has run its half of the batch
    assert a.shape == (128, 256)
    # too small to split: the helper is not asked for anything
    small = widgets.DeepNetworkExplorer(canvas="none", depth=2, width=8, batch_size=16)
    held = _probing._helpers()["probe"].submit(lambda: getattr(small._probes._local, "network", None)).result()
    assert held is None


def test_a_refinement_the_learner_has_left_is_dropped():
    async def main():
        ex = always_draft(widgets.DeepNetworkExplorer(canvas="none", depth=4, width=16, batch_size=128))
        # the first refinement waits until the learner has moved on
        gate = hold_refinements(ex, lambda values, i: i == 0 and values["weight_scale"] == 0.5)
        shown = []
        show = ex.show
        ex.show = lambda result, values: (shown.append((values["weight_scale"], result[0].n_examples)),
                                          show(result, values))
        learner_sets(ex.controls["weight_scale"], 0.5)
        await asyncio.to_thread(gate.waiting.wait, 10)  # the worker is inside the first refinement
        for v in (0.6, 0.7, 0.8):  # 0.6 and 0.7 wait for the worker and are replaced by the next
            learner_sets(ex.controls["weight_scale"], v)
        gate.set()
        await settled(ex)
        finals = [s for s in shown if s[1] == 128]
        assert finals == [(0.8, 128)]  # one refinement shown: the latest value's
        assert ex.dropped == 3  # 0.5 stopped at its next slice, 0.6 and 0.7 never started
        assert [v for v, n in shown if n < 128] == [0.5, 0.6, 0.7, 0.8]  # every change got its draft at once

    asyncio.run(main())


def test_the_refining_mark_shows_only_on_a_draft_kept_longer_than_the_delay():
    async def main():
        ex = always_draft(widgets.DeepNetworkExplorer(canvas="none", depth=4, width=16, batch_size=128))
        gate = hold_refinements(ex, lambda values, i: i == 0)
        ex.refining_delay = 0.05

        def mark():
            return [t for t in ex.ax_var.texts if t.get_gid() == "refining" and t.get_visible()]

        learner_sets(ex.controls["weight_scale"], 0.5)
        assert ex.answered == "draft" and not mark()  # not at once: a quick refinement would make it blink
        await asyncio.sleep(0.2)
        assert mark() and "32 of 128 examples" in mark()[0].get_text()
        learner_sets(ex.controls["weight_scale"], 0.6)  # the next draft keeps it: no blinking during a drag
        assert ex.answered == "draft" and mark()
        gate.set()
        await settled(ex)
        assert not mark()

    asyncio.run(main())


def test_a_draft_frame_with_its_mark_is_blitted_as_a_full_draw_would_draw_it():
    need_ipympl()

    async def main():
        ex = always_draft(widgets.DeepNetworkExplorer(canvas="ipympl", depth=4, width=16, batch_size=128))
        ex.refining_delay = 0.0
        ex.refine = lambda values: iter(())  # never refined: the draft and its mark stay
        canvas = ex.figure.canvas
        canvas.syncing_data_url = False
        canvas.draw()
        for v in (0.9, 0.95):
            learner_sets(ex.controls["weight_scale"], v)
            assert ex.answered == "draft" and ex._blitter.last != "full"
            blitted = _pixels(canvas)
            canvas.draw()
            np.testing.assert_array_equal(blitted, _pixels(canvas))
        assert [t for t in ex.ax_var.texts if t.get_gid() == "refining" and t.get_visible()]

    asyncio.run(main())


@pytest.mark.parametrize("chapter, name, control, value, reference", [
    ("ch04a_dying_relu", "DyingReluExplorer", "lr", 1.0, 0.1),
    ("ch04b_relu_variants", "PReLUExplorer", "alpha_init", 0.4, 0.25),
])
def test_an_explorer_that_trains_answers_a_learner_with_the_first_steps_then_all_of_them(chapter, name, control,
                                                                                        value, reference):
    import importlib

    async def main():
        ex = getattr(importlib.import_module(f"gradviz.chapters.{chapter}"), name)(canvas="none")
        ex.draft_steps = 20
        first = ex.answer(ex.values)  # at the defaults: kept
        learner_sets(ex.controls[control], value)
        draft = ex.answer(ex.values, examples=20)
        assert ex.answered == "draft" and draft[0].history.config["steps"] == 20  # (a kept reference: all its steps)
        await settled(ex)
        final = ex.answer(ex.values)
        assert ex.answered == "final" and [r.history.config["steps"] for r in final] == [200, 200]
        for d, f in zip(draft, final):  # the draft's steps are the run's first steps: the same records
            n = len(d.history.record_steps)
            np.testing.assert_array_equal(d.history.record_steps, f.history.record_steps[:n])
            np.testing.assert_array_equal(d.history.test_accuracy, f.history.test_accuracy[:n])
        learner_sets(ex.controls[control], reference)  # kept: no draft
        assert ex.answered == "final" and ex.answer(ex.values) == first

    asyncio.run(main())


def test_the_worker_runs_the_latest_job():
    worker = _live.Worker()
    started, gate, ran = threading.Event(), threading.Event(), []

    def first():
        started.set()
        gate.wait(10)
        ran.append(1)

    assert worker.submit(first) is False
    started.wait(10)
    assert worker.submit(lambda: ran.append(2)) is False
    assert worker.submit(lambda: ran.append(3)) is True  # replaced job 2, which never ran
    gate.set()
    deadline = time.monotonic() + 10
    while worker.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ran == [1, 3] and not worker.busy


def test_a_started_job_hands_its_outcome_to_the_event_loop():
    async def main():
        worker, seen = _live.Worker(), []
        thread = threading.get_ident()

        def note(kind):
            return lambda *args: seen.append((kind, *args, threading.get_ident() == thread))

        def fails():
            raise ValueError("bad")

        def leaves():
            raise _live.Left

        for work, left in ((lambda: 3, None), (fails, None), (leaves, note("left")), (leaves, None)):
            worker.start(work, note("done"), note("failed"), left)  # the last one: no left(), nothing
            deadline = time.monotonic() + 10
            while worker.busy and time.monotonic() < deadline:  # one at a time: a waiting job would be replaced
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.02)
        assert [s[0] for s in seen] == ["done", "failed", "left"] and all(s[-1] for s in seen)  # on the loop's thread
        assert seen[0][1] == 3 and isinstance(seen[1][1], ValueError)

    asyncio.run(main())


def test_a_reporter_throttles_progress_and_stops_a_replaced_job():
    async def main():
        current, seen = [True], []
        report = _live.reporter(asyncio.get_running_loop(), lambda: current[0], lambda *a: seen.append(a), every=60)
        for step in range(1, 6):
            report(step, 5)
        await asyncio.sleep(0.01)
        assert seen == [(1, 5), (5, 5)]  # the first, then none for a minute, but the last
        current[0] = False
        with pytest.raises(_live.Left):
            report(1, 5)

    asyncio.run(main())


def test_one_blas_thread_nests_and_restores():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    with _live.one_blas_thread():
        with _live.one_blas_thread():
            assert set(blas_threads()) == {1}
        assert set(blas_threads()) == {1}
    assert blas_threads() == before


def test_probing_the_batch_in_slices_and_combining_gives_the_whole_batch():
    net = MLP(16, depth=5, width=16, activation="relu", n_outputs=None, seed=2, dtype=np.float32)
    whole = probe(net, batch_size=96, seed=1)
    combined = combine_stats([probe(net, batch_size=96, seed=1, rows=slice(i, i + 32)) for i in (0, 32, 64)])
    assert combined.n_examples == 96
    for f in ("a_var", "da_var", "z_mean", "dz_var", "saturated_fraction", "dead_fraction"):
        np.testing.assert_allclose(getattr(combined, f), getattr(whole, f), rtol=1e-5, atol=1e-12)


def test_a_learners_run_trains_on_a_worker_thread_and_a_new_run_replaces_it():
    async def main():
        ex = ch07.explorers.TrainingExplorer(canvas="none", progress=False, depth=1, width=16, steps=50, batch_size=32)
        first_started, release = threading.Event(), threading.Event()
        train_run = ex.train_run

        def held(values, progress=False, callback=None):
            def wrapped(step, steps):
                if values["lr"] == 0.1 and step == 1:  # the first run waits at its first step
                    first_started.set()
                    release.wait(10)
                callback(step, steps)
            return train_run(values, progress=progress, callback=wrapped)

        ex.train_run = held
        ex.run_in_background()
        assert ex.progress_view.layout.visibility == "visible" and ex.runs == {}
        await asyncio.to_thread(first_started.wait, 10)
        ex.controls["lr"].value = 0.2  # the controls stay live while it trains
        assert "not trained yet" in ex.status.value
        ex.run_in_background()  # a new Run: the first stops at its next step
        release.set()
        deadline = time.monotonic() + 60
        while ex._training and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert list(ex.runs) == [ex.label(**ex.values)] and "lr 0.2" in next(iter(ex.runs))
        assert len(ex.cache) == 1  # the replaced run was never finished, so never kept
        assert ex.progress_view.layout.visibility == "hidden" and ex.progress_bar.value == 50
        ex.run_in_background()  # trained before: shown at once
        assert ex._training == 0 and len(ex.runs) == 1

    asyncio.run(main())



def test_a_draft_of_wide_layers_measures_fewer_examples_but_as_many_values_per_layer():
    async def main():
        ex = always_draft(widgets.DeepNetworkExplorer(canvas="none", depth=3, width=512, batch_size=128))
        assert [ex.smallest_draft(w) for w in (64, 256, 512)] == [32, 32, 16]  # 8192 values per layer at 512
        learner_sets(ex.controls["weight_scale"], 0.5)
        assert ex.answered == "draft" and ex.stats.n_examples == 16
        await settled(ex)
        assert ex.answered == "final" and ex.stats.n_examples == 128

    asyncio.run(main())


def test_an_answer_knows_whether_a_learner_waits_for_it():
    async def main():
        ex = widgets.DeepNetworkExplorer(canvas="none", depth=2, width=16, batch_size=64)
        seen = []
        answer = ex.answer
        ex.answer = lambda values, examples=None: (seen.append(ex.learner_waiting), answer(values, examples))[1]
        learner_sets(ex.controls["weight_scale"], 0.5)
        ex.update(weight_scale=0.6)
        assert seen == [True, False] and not ex.learner_waiting

    asyncio.run(main())


def test_a_refinement_probes_two_slices_at_a_time_on_two_threads_when_they_are_large(monkeypatch):
    from gradviz import _probing

    async def main():
        ex = always_draft(widgets.DeepNetworkExplorer(canvas="none", depth=5, width=32, batch_size=256))
        threads = []
        probe_here = ex._probes._probe_here
        ex._probes._probe_here = lambda *a: (threads.append(threading.current_thread().name), probe_here(*a))[1]
        learner_sets(ex.controls["weight_scale"], 0.7)
        await settled(ex)
        assert ex.answered == "final" and ex.stats.n_examples == 256 and not threads  # 64 x 32 values: one thread
        monkeypatch.setattr(_probing, "MIN_HALF_VALUES", 64 * 32)  # four slices of 64: two pairs
        learner_sets(ex.controls["weight_scale"], 0.8)
        assert ex.answered == "draft"
        await settled(ex)
        assert ex.answered == "final" and ex.stats.n_examples == 256
        assert threads == ["gradviz-refine_0"] * 2  # the second slice of each pair; never the kernel's helper
        monkeypatch.setattr(_probing, "MIN_HALF_VALUES", 128 * 32)  # slices made larger: one pair of halves
        learner_sets(ex.controls["weight_scale"], 0.9)
        await settled(ex)
        assert ex.answered == "final" and threads == ["gradviz-refine_0"] * 3
        net = MLP(32, depth=5, width=32, activation="tanh", weight_scale=0.9, n_outputs=None, dtype=np.float32)
        whole = probe(net, batch_size=256, seed=0)
        for q in ("a_var", "da_var", "saturated_fraction"):
            np.testing.assert_allclose(getattr(ex.stats, q), getattr(whole, q), rtol=1e-5)  # float32 rounding

    asyncio.run(main())


def test_an_answer_sends_its_readout_once_and_after_the_frame():
    async def main():
        ex = widgets.DeepNetworkExplorer(canvas="none", depth=3, width=16, batch_size=64)
        sent = []
        ex.readout._send = lambda msg, buffers=None: sent.append(("readout", msg["state"]["value"]))
        draw = ex.request_draw
        ex.request_draw = lambda now=False: (sent.append(("frame", None)), draw(now))
        show = ex.show

        def show_twice(result, values):  # a subclass that rewrites its parent's readout
            show(result, values)
            ex.readout.value = "more: " + ex.readout.value

        ex.show = show_twice
        learner_sets(ex.controls["weight_scale"], 3.0)  # tanh at 3x Glorot over 3 layers: a readout to write
        assert [k for k, _ in sent] == ["frame", "readout"] and sent[-1][1] == ex.readout.value
        assert ex.readout.value.startswith("more: ")
        sent.clear()
        ex.update(depth=4)  # code's changes too
        assert [k for k, _ in sent] == ["frame", "readout"]

    asyncio.run(main())


def test_a_setting_is_judged_by_its_own_time_once_measured():
    async def main():
        ex = widgets.DeepNetworkExplorer(canvas="none", depth=4, width=64, batch_size=256)
        values = ex.values
        ex._flops = 1e15  # other shapes were quick: this one is estimated quick too
        assert ex.draft_examples({**values, "weight_scale": 0.5}) is None
        ex._learn(4, 64, "tanh", "off", 256, 4 * ex.full_seconds)  # but it took 4 times the time allowed
        assert ex.draft_examples({**values, "weight_scale": 0.5}) == 32  # 256 x 0.025 / 0.24 = 27: the smallest draft
        ex._learn(4, 64, "tanh", "off", 256, 0.0)  # the average of the last two: still too slow
        assert ex.draft_examples({**values, "weight_scale": 0.5}) is not None
        ex._learn(4, 64, "tanh", "off", 256, 0.0)
        assert ex.draft_examples({**values, "weight_scale": 0.5}) is None
        # a refinement on two threads teaches it too
        always_draft(ex)
        ex._seconds.clear()
        from gradviz import _probing
        old, _probing.MIN_HALF_VALUES = _probing.MIN_HALF_VALUES, 64 * 64
        try:
            learner_sets(ex.controls["weight_scale"], 0.7)
            await settled(ex)
        finally:
            _probing.MIN_HALF_VALUES = old
        assert list(ex._seconds) == [(4, 64, "tanh", "off", 256)]

    asyncio.run(main())
