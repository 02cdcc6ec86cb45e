"""Chapter 02's explorers: the interactive explorers the notebook shows
(:class:`GradientFlowExplorer`, :class:`SaturationExplorer`).
"""

from __future__ import annotations

import html
import time

import ipywidgets
import matplotlib as mpl
import numpy as np

from ... import plots
from ...activations import ACTIVATIONS, sigmoid, sigmoid_grad
from ...theory import sigmoid_slope_log10
from ...widgets import (CONTROL_STYLE, INIT_OPTIONS, WIDTHS, DeepNetworkExplorer, Explorer, choice, int_slider,
                        log_slider, resolve_init, values_slider)
from .experiments import probe_flow
from .figures import RATIO_CURVES, gradient_ratio_curves


class GradientFlowExplorer(DeepNetworkExplorer):
    """The gradient on its way down a deep MLP, layer by layer, as depth, activation and weight scale change.

    Left panel: ||dL/da^l|| / ||dL/da^L|| for every hidden layer l (log scale),
    measured, beside what the slopes alone allow, (max phi')^(L-l), and the
    typical product of rms slope x weight gain of the layers crossed
    (:func:`gradient_ratio_curves`). An overflow is marked at
    the first hidden layer whose values were not finite. Right panel: the
    saturated units per layer (sigmoid and tanh; 0 for the others).

    The network is probed as in :class:`gradviz.widgets.DeepNetworkExplorer` (standard-normal
    input of ``width`` features and standard-normal upstream gradient at the
    last hidden layer, :func:`probe_flow`), in float32 by default,
    with the same weights (same seed, same cache).

    Controls: ``depth``, ``activation``, ``weight_scale`` (multiplies every
    initial weight; 0.1 to 30), ``width``, ``init``, ``seed``.

    Attributes
    ----------
    flow : GradientFlow
        What is drawn now.
    """

    figsize = (11.0, 4.4)
    batch_size = 128
    #: The x axes show hidden layers 1..n for the smallest n here (or ``max_depth``) that is at least the depth:
    #: the curves fill at least 40 % of the width, and most depth steps redraw the curves only (rescaling the x
    #: axes at each step redrew every tick label of both panels, most of a frame).
    layer_ruler = (10, 25)
    #: A draft (see :meth:`answer`) probes at least this many of the batch's examples: with 512 units, 8 examples
    #: give 4096 values per layer, enough for the norm of a gradient; 32 took 0.3-0.5 s at 60 x 512.
    min_draft_examples = 8

    def __init__(self, canvas="auto", *, dtype=np.float32, max_depth=60, **values):
        super().__init__(canvas, dtype=dtype, max_depth=max_depth, **values)

    def make_controls(self):
        return {
            "depth": int_slider("depth (hidden layers)", 1, self.max_depth, 10),
            "activation": choice("activation", list(ACTIVATIONS), "sigmoid"),
            "weight_scale": log_slider("weight scale (x init)", 0.1, 30.0, 1.0),
            "width": values_slider("width (units per layer)", WIDTHS, 128),
            "init": choice("initializer", INIT_OPTIONS, "auto"),
            "seed": ipywidgets.BoundedIntText(value=0, min=0, max=2**31 - 1, description="seed", style=CONTROL_STYLE),
        }

    def setup_figure(self, fig):
        self.ax_ratio, self.ax_sat = fig.subplots(1, 2, width_ratios=[2.1, 1])
        for ax in (self.ax_ratio, self.ax_sat):
            plots.tidy(ax)
        ax = self.ax_ratio
        self.lines = {}
        for name in ("measured", "slope_bound", "typical"):
            label, color, ls, marker = RATIO_CURVES[name]
            (self.lines[name],) = ax.plot([], [], ls=ls, marker=marker, color=color, label=label, gid=f"ratio:{name}",
                                          lw={"measured": 2.2, "typical": 2.6}.get(name, 1.6), ms=5,
                                          zorder={"measured": 3, "typical": 4}.get(name, 2))
        plots.fast_log_yaxis(ax)
        ax.set_ylabel("gradient relative to layer $L$ (log scale)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), fontsize=9, frameon=False, ncols=2)
        fa = self.ax_sat
        (self.lines["saturated"],) = fa.plot([], [], "s-", ms=4, color=plots.COLORS["saturated"],
                                             gid="fraction:saturated")
        fa.set_ylim(-3, 103)
        fa.set_ylabel("saturated units (%)")
        fa.set_title("saturated units (sigmoid, tanh)", fontsize=11)

    def blit_axes(self):
        return [self.ax_sat, self.ax_ratio]  # the ratio axis moves most often: last

    def shown_layers(self, depth):
        """The hidden layers 1..n the x axes show for ``depth`` (see :attr:`layer_ruler`)."""
        return plots.layer_span(depth, self.layer_ruler, self.max_depth)

    def _freeze_layout(self):
        super()._freeze_layout()  # lays out for the deepest network, then shows layers 1..depth
        for ax in self.blit_axes():
            plots.layer_axis(ax, self.shown_layers(self.controls["depth"].value))

    def blit_static(self):
        return [self.ax_sat.title, self.ax_ratio.get_legend()]  # the legend is below the axes

    def compute(self, depth, width, activation, init, weight_scale, seed):
        """The :class:`GradientFlow` of these control values (cached)."""
        key = self._key(depth, width, activation, init, weight_scale, "off", seed, self.batch_size)
        hit = self._results.get(key)
        if hit is not None:
            self.timings.update(build=0.0, probe=0.0, cached=True)
            return hit
        return self._results.put(key, self._flow(depth, width, activation, init, weight_scale, seed))

    def _flow(self, depth, width, activation, init, weight_scale, seed, rows=None):
        """:func:`probe_flow` of the network (of the examples ``rows`` of the batch; None: all), timed; learns how
        fast this machine probes (see :meth:`draft_examples`)."""
        t0 = time.perf_counter()
        net = self._probes.thread_network(depth, width, activation, init, weight_scale, "off", seed)
        t1 = time.perf_counter()
        flow = probe_flow(net, batch_size=self.batch_size, seed=seed, spectral_norms=False, rows=rows,
                          param_grads=False)
        t2 = time.perf_counter()
        self.timings.update(build=t1 - t0, probe=t2 - t1, cached=False)
        n = len(range(self.batch_size)[rows]) if rows is not None else self.batch_size
        flop = self.probe_flop(depth, width, n)
        if flop > 2e7:  # large enough to time the products rather than Python
            self._flops = 0.5 * self._flops + 0.5 * flop / max(t2 - t1, 1e-6)
        return flow

    # --- progressive answers: a deep, wide network is first probed on a slice of the batch -------------
    def probe_args(self, values):
        return {**super().probe_args(values), "batch_size": self.batch_size}

    def answer(self, values, examples=None):
        """The :class:`GradientFlow` of ``values`` (cached); with ``examples``, an estimate from the first
        ``examples`` of the batch (a draft, computed on the kernel's thread while :meth:`refine` probes them all)."""
        a = {k: values[k] for k in ("depth", "width", "activation", "init", "weight_scale", "seed")}
        if examples is None:
            return self.compute(**a)
        return self._flow(**a, rows=slice(0, examples))

    def refine(self, values):
        """The probe of the whole batch, on the worker thread (its own network: the kernel's thread may be
        probing meanwhile)."""
        a = {k: values[k] for k in ("depth", "width", "activation", "init", "weight_scale", "seed")}
        net = self._probes.thread_network(a["depth"], a["width"], a["activation"], a["init"], a["weight_scale"], "off",
                                          a["seed"])
        yield None  # a refinement the learner has already left stops here
        yield probe_flow(net, batch_size=self.batch_size, seed=a["seed"], spectral_norms=False, param_grads=False)

    def refining_text(self, values, examples):
        return f"estimate from {examples} of {self.batch_size} examples: refining ..."

    def show(self, flow, values):
        depth, width, activation, init, weight_scale = (values[k] for k in ("depth", "width", "activation", "init",
                                                                              "weight_scale"))
        curves = gradient_ratio_curves(flow)
        layers = np.arange(1, depth + 1)
        for name in ("measured", "slope_bound", "typical"):
            y = plots.positive_finite(curves[name])
            if name == "measured":
                y = plots.mask_overflowed(y, "da", flow.overflow)
            self.lines[name].set_data(layers, y)
        ax = self.ax_ratio
        plots.layer_axis(ax, self.shown_layers(depth))
        plots.mark_overflow(ax, flow.overflow, depth)
        self.autoscale(ax, x=False, sticky=True)
        measured = self.lines["measured"].get_ydata()
        message = ""
        if flow.first_nonfinite is not None and not np.isfinite(measured).any():
            message = (f"Overflow at hidden layer {flow.first_nonfinite}: no gradient to draw\n"
                       "(the loss and every gradient are inf or nan).")
        plots.explain(ax, message)
        if message:
            ax.set_ylim(1e-2, 1e2)
        init_name = resolve_init(init, activation)
        ax.set_title(f"{activation}, {init_name} x {weight_scale:.3g}: {depth} x {width} units, {self.dtype.name}",
                     fontsize=11)
        sat = plots.mask_overflowed(plots.finite_or_nan(flow.saturated_fraction) * 100, "a", flow.overflow)
        self.lines["saturated"].set_data(layers, sat)
        plots.layer_axis(self.ax_sat, self.shown_layers(depth))
        plots.mark_overflow(self.ax_sat, flow.overflow, depth, text=False)
        self.flow = flow
        self.readout.value = self._flow_readout(flow, self.dtype)

    @staticmethod
    def _flow_summary(flow, dtype):
        """(verdict, sentences) describing ``flow`` in plain words."""
        L = flow.depth
        if flow.first_nonfinite is not None:
            big = float(np.finfo(dtype).max)
            where = "forward" if flow.overflow.get("forward") is not None else "backward"
            return "overflow", [
                f"Overflow in the {where} pass at hidden layer {flow.first_nonfinite}: values passed the largest "
                f"{np.dtype(dtype).name} number ({big:.3g}) and became inf or nan.",
                "No error and no warning: the engine records the first layer that was not finite.",
            ]
        if L < 2:
            return "one layer", ["With one hidden layer the gradient crosses no layer: add depth."]
        r, f = flow.ratio("da"), flow.per_layer_factor("da")
        if r == 0:
            return "vanishes", ["The gradient reaching layer 1 underflowed to exactly 0: it vanished."]
        if r < 1e-2:
            verdict = "vanishes"
        elif r > 1e2:
            verdict = "explodes"
        elif r < 0.5:
            verdict = "shrinks slowly"
        elif r > 2:
            verdict = "grows slowly"
        else:
            verdict = "keeps its size"
        sb = flow.slope_bound
        return verdict, [
            f"Layer 1 receives {r:.3g} x the gradient of layer {L}: about x{f:.3g} per layer crossed, so the "
            f"gradient {verdict} on its way down.",
            f"The slopes alone allow at most (max phi')^{L - 1} = {sb:.3g}; the typical product of "
            f"rms slope x weight gain predicts {flow.typical_factor:.3g}.",
        ]

    @classmethod
    def _flow_readout(cls, flow, dtype):
        verdict, sentences = cls._flow_summary(flow, dtype)
        text = "<br>".join(html.escape(s) for s in sentences).replace("phi'", "&phi;'")
        return f"<b>{html.escape(verdict)}</b>: {text}"

    def summary(self) -> str:
        """What the explorer shows now, as plain text (for printing in a notebook)."""
        v = self.values
        init_name = resolve_init(v["init"], v["activation"])
        verdict, sentences = self._flow_summary(self.flow, self.dtype)
        head = (f"{v['activation']}, {init_name} x {v['weight_scale']:.3g}, {v['depth']} layers x {v['width']} units, "
                f"{self.dtype.name}: {verdict}")
        return "\n".join([head] + sentences)


_LOG10_TINY = float(np.log10(np.finfo(np.float64).smallest_subnormal))  # -323.3: below, a float64 is 0


def _pow10(log10_value):
    """10**log10_value as short text, exact even where a float64 would round it to 0 ('0.0197', '2.5e-434')."""
    if not np.isfinite(log10_value):
        return "0" if log10_value < 0 else "inf"
    if -4.0 <= log10_value < 4.0:
        return f"{10.0 ** log10_value:.3g}"
    e = int(np.floor(log10_value))
    mant = 10.0 ** (log10_value - e)
    if round(mant, 1) >= 10.0:
        mant, e = mant / 10.0, e + 1
    return f"{mant:.1f}e{e}"


def _nice_ceil(x):
    """The smallest of 1, 1.5, 2, 3, 5, 7 x 10^k that is >= ``x`` (> 0): an axis limit that stays put while
    the data moves a little, so that a slider step redraws the curves and not the axis."""
    e = 10.0 ** np.floor(np.log10(x))
    return next(m * e for m in (1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0) if m * e >= x)


def _sigma_text(z, digits=4):
    """sigma(z) as text that does not hide how close to 1 it is: '0.8808', '1 - 1.1e-07', '1 exactly (rounded)'."""
    s = float(sigmoid(z))
    if s in (0.0, 1.0):
        return f"{s:g} exactly (rounded)"
    if s > 1 - 10.0 ** -digits:
        return f"1 - {float(sigmoid(-z)):.2g}"  # 1 - sigma(z) = sigma(-z), without cancellation
    return f"{s:.{digits}g}"


class SaturationExplorer(Explorer):
    """The sigmoid at one input z: sigma(z), its slope sigma'(z), and what L such slopes multiply a gradient by.

    Left: sigma and sigma' for z around the chosen one, the saturated inputs shaded
    (slope below ``SATURATION_THRESHOLD`` x 1/4), dots at z. Right: the product of n
    slopes sigma'(z)^n for n = 1..50, what a gradient keeps after crossing n sigmoid
    units that all sit at z, beside the best case (1/4)^n; drawn from exact logarithms
    (:func:`gradviz.theory.sigmoid_slope_log10`), so it is right even where a float64
    would round the product to 0 (the shaded band). The readout compares z with
    z = 6 and with a far input ``z_far`` (1000 at first): sigma(6) against sigma(1000).

    Controls: ``z`` (-20 to 20), ``layers`` (L, 1 to 50), ``z_far``.
    """

    figsize = (9.6, 4.0)
    max_layers = 50

    def __init__(self, canvas="auto", **values):
        self.readout = ipywidgets.HTML()
        super().__init__(canvas, **values)

    def make_controls(self):
        w = ipywidgets
        return {
            "z": w.FloatSlider(value=2.0, min=-20.0, max=20.0, step=0.1, description="pre-activation z",
                               readout_format=".1f", style=CONTROL_STYLE),
            "layers": int_slider("layers L", 1, self.max_layers, 10),
            "z_far": w.FloatText(value=1000.0, description="far input z_far", style=CONTROL_STYLE),
        }

    def setup_figure(self, fig):
        self.ax_phi, self.ax_prod = fig.subplots(1, 2, width_ratios=[1, 1.1])
        for ax in (self.ax_phi, self.ax_prod):
            plots.tidy(ax)
        ax = self.ax_phi
        (self.phi,) = ax.plot([], [], color=plots.COLORS["phi"], gid="phi", label="σ(z)")
        (self.dphi,) = ax.plot([], [], color=plots.COLORS["dphi"], ls="--", gid="dphi", label="slope σ′(z)")
        (self.marks,) = ax.plot([], [], "o", color="black", ms=6, gid="marks", zorder=5)
        self.zline = ax.axvline(0.0, color="0.4", lw=0.8, ls=":", gid="z")
        ax.axhline(0.25, color="0.3", lw=0.8, ls=":", zorder=1)
        ax.text(0.98, 0.26, "largest slope 1/4", ha="right", va="bottom", fontsize=8, color="0.3",
                transform=mpl.transforms.blended_transform_factory(ax.transAxes, ax.transData))
        ax.set_ylim(-0.05, 1.1)
        ax.set_xlabel("pre-activation z")
        # both legends below the panels: the same at every step, so drawn once (blit_static), and off the curves
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=9, frameon=False, ncols=2)
        ax = self.ax_prod
        n = np.arange(1, self.max_layers + 1)
        (self.best,) = ax.plot(n, n * np.log10(0.25), "--", color="0.15", lw=1.4, gid="best",
                               label="best case: (1/4)ⁿ, every unit at z = 0")
        (self.prod,) = ax.plot([], [], color=plots.COLORS["dphi"], gid="product", label="σ′(z)ⁿ: every unit at the slider's z")
        (self.at_L,) = ax.plot([], [], "o", color="black", ms=6, gid="at_L", zorder=5)
        self.tiny = ax.axhspan(-1e7, _LOG10_TINY, color=plots.COLORS["shade"], lw=0, zorder=0, gid="underflow")
        self.tiny_text = ax.text(0.02, _LOG10_TINY, "below 4.9e-324, the smallest float64:\nstored as exactly 0", ha="left", va="top",
                fontsize=8, color="0.3", transform=mpl.transforms.blended_transform_factory(ax.transAxes, ax.transData),
                clip_on=True, gid="underflow_text")
        ax.set_xlim(0, self.max_layers + 1)
        ax.set_xlabel("number of sigmoid layers crossed, n")
        ax.set_ylabel("product of n slopes (log scale)")
        ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(nbins=6, integer=True))
        ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(
            lambda v, pos: "1" if v == 0 else f"10{str(int(round(v))).translate(plots.SUPERSCRIPT)}"))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=9, frameon=False, ncols=1)  # 2: too wide
        self._shaded = None  # the z range shaded now

    def blit_static(self):
        return [self.ax_phi.get_legend(), self.ax_prod.get_legend()]

    def state(self, z, layers, z_far):
        """What the explorer shows for these values, as a dict of plain numbers (no widgets involved)."""
        rows = {}
        for name, zz in (("z", float(z)), ("6", 6.0), ("far", float(z_far))):
            lg = float(sigmoid_slope_log10(zz)) if np.isfinite(zz) else float("-inf")
            with np.errstate(all="ignore"):
                rows[name] = dict(z=zz, sigma=float(sigmoid(zz)), slope=float(sigmoid_grad(zz)), log10_slope=lg,
                                  log10_product=int(layers) * lg)
        return rows

    def refresh(self, z, layers, z_far):
        rows = self.state(z, layers, z_far)
        r = rows["z"]
        # -10..10, or the whole slider (-21..21) once z is beyond 9: a step of z moves the curves, not the axis
        half = 10.0 if abs(r["z"]) <= 9.0 else 21.0
        zz = np.linspace(-half, half, 801)
        self.phi.set_data(zz, sigmoid(zz))
        self.dphi.set_data(zz, sigmoid_grad(zz))
        self.marks.set_data([r["z"], r["z"]], [r["sigma"], r["slope"]])
        self.zline.set_xdata([r["z"], r["z"]])
        if self._shaded != half:
            plots.shade_saturation(self.ax_phi, "sigmoid", (-half, half))
            self._shaded = half
        self.ax_phi.set_xlim(-half, half)
        self.ax_phi.set_title(f"z = {r['z']:.1f}:  σ(z) = {_sigma_text(r['z'])},  σ′(z) = {r['slope']:.3g}",
                              fontsize=11)
        n = np.arange(1, self.max_layers + 1)
        self.prod.set_data(n, n * r["log10_slope"])
        self.at_L.set_data([layers], [r["log10_product"]])
        low = min(self.max_layers * r["log10_slope"], self.max_layers * np.log10(0.25))
        self.ax_prod.set_ylim(-_nice_ceil(1.0 - 1.08 * low), 2.0)
        self.tiny_text.set_visible(self.ax_prod.get_ylim()[0] < _LOG10_TINY)  # drawing text costs, even unseen
        self.ax_prod.set_title(f"product of L = {layers} slopes σ′(z)ᴸ = {_pow10(r['log10_product'])}",
                               fontsize=11)
        self.readout.value = self._readout(rows, layers)

    @staticmethod
    def _row_text(row, layers):
        """(sigma, slope, product) of one row as plain text, saying where float64 rounds."""
        sig = _sigma_text(row["z"], digits=6)
        slope = (f"0 in float64 (really {_pow10(row['log10_slope'])})" if row["slope"] == 0.0
                 else f"{row['slope']:.3g}")
        prod = _pow10(row["log10_product"])
        if row["log10_product"] < _LOG10_TINY:
            prod += " (0 in float64)"
        return sig, slope, prod

    def _readout(self, rows, layers):
        head = ("<tr><th style='padding-right:1em'>input z</th><th style='padding-right:1em'>σ(z)</th>"
                f"<th style='padding-right:1em'>slope σ′(z)</th><th>product of L = {layers} slopes</th></tr>")
        body = []
        for row in rows.values():
            sig, slope, prod = self._row_text(row, layers)
            body.append(f"<tr><td>{row['z']:g}</td><td>{html.escape(sig)}</td><td>{html.escape(slope)}</td>"
                        f"<td>{html.escape(prod)}</td></tr>")
        return f"<table style='border-collapse: collapse'>{head}{''.join(body)}</table>"

    def summary(self) -> str:
        """What the explorer shows now, as plain text (for printing in a notebook)."""
        v = self.values
        rows = self.state(**v)
        out = [f"L = {v['layers']} layers"]
        for row in rows.values():
            sig, slope, prod = self._row_text(row, v["layers"])
            out.append(f"z = {row['z']:g}: sigma = {sig}, slope = {slope}, product of L slopes = {prod}")
        return "\n".join(out)
