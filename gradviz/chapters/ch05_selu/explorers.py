"""Chapter 05's explorers: :class:`SeluConditionsExplorer` (break the four conditions one by one) and
:class:`SeluMapExplorer` (one SELU layer as a map of (mean, variance)).
"""

from __future__ import annotations

import html
import time

import ipywidgets
import numpy as np

from ... import plots, widgets
from ...theory import selu_fixed_point, selu_map_trajectory
from ...widgets import Explorer
from .experiments import SELU_CONDITIONS, selu_conditions
from .figures import TARGET_COLOR, _log_ticks, _symlog_ticks, moments_axes, plot_selu_map


#: What breaking each condition does, in one sentence (the readout under the figure).
_WHY = {
    "standardized": "Inputs of mean 2 and std 3 start layer 1 far from (0, 1). The SELU layers pull the pooled "
                    "mean and std back within a few layers, but every unit keeps an offset of its own: "
                    "each unit's weights do not sum to exactly 0, so the input's mean leaks into it.",
    "lecun_normal": "He-normal weights have twice LeCun's variance (tau = 2): every layer feeds the next a larger "
                    "variance and a positive mean, which reaches the next variance through each unit's own weight "
                    "sum omega_j; SELU's linear positive side passes a large spread on, times lambda.",
    "sequential": "A skip connection adds each block's input to its output, and nothing normalises the sum: "
                  "each block's SELU gets the whole stream, passes its positive half on times lambda, and so "
                  "adds a term about as large as the stream: the std grows by a constant factor per layer.",
    "dense_only": "Ordinary dropout (training mode) zeroes 20 % of the values and divides the rest by 0.8, "
                  "multiplying their second moment by 1.25 at every layer: the network settles at a new, larger "
                  "std and a positive mean.",
}


class SeluConditionsExplorer(Explorer):
    """Break the four conditions of a self-normalizing network one by one and watch the drift.

    The network is :func:`selu_conditions`: up to 100 hidden layers of 100 SELU
    units (no output layer) fed 256 standardised digits, every block's output h^l summarised by its
    pooled mean and standard deviation. Each checkbox keeps one condition of Klambauer et al.
    (2017); unticking it breaks that condition as :data:`SELU_CONDITIONS` says
    (inputs 2 + 3x; He-normal init; a skip connection around every block; an ordinary dropout layer
    after every SELU in training mode). The blue line is the network with all four conditions,
    drawn for reference; the dashed grey lines are the targets, mean 0 and std 1.

    Each combination of checkboxes is computed once for 100 layers (well under a second) and cached;
    the depth slider shows its first ``depth`` layers, which are exactly the layers of the shallower
    network (each layer is seeded on its own).

    Controls: ``standardized``, ``lecun_normal``, ``sequential``, ``dense_only`` (checkboxes),
    ``depth``.
    """

    figsize = (10.5, 4.2)
    max_depth = 100
    #: The x axes show hidden layers 1..n for the smallest n here that is at least the depth: the curves fill at
    #: least 40 % of the width, and most depth steps redraw the curves only (rescaling the x axes at each step
    #: redrew every tick label of both panels, about half of a frame).
    layer_ruler = (10, 20, 50, 100)

    def __init__(self, canvas="auto", **values):
        self.readout = ipywidgets.HTML()
        super().__init__(canvas, **values)

    def make_controls(self):
        w = ipywidgets
        boxes = {name: w.Checkbox(value=True, description=title, indent=False, style=widgets.CONTROL_STYLE)
                 for name, (title, _) in SELU_CONDITIONS.items()}
        return {**boxes, "depth": widgets.int_slider("depth (hidden layers)", 2, self.max_depth, self.max_depth)}

    #: Height kept free under the panels for the legend, as a fraction of the figure's.
    legend_room = 0.075

    def setup_figure(self, fig):
        self.ax_mean, self.ax_std = fig.subplots(1, 2)
        fig.get_layout_engine().set(rect=(0, self.legend_room, 1, 1 - self.legend_room))
        self.lines = {}
        for key, color, lw, label in (("base", plots.OKABE_ITO["blue"], 1.4, "all four conditions hold"),
                                      ("now", plots.OKABE_ITO["vermillion"], 2.0, "your network")):
            (self.lines[f"mean:{key}"],) = self.ax_mean.plot([], [], color=color, lw=lw, label=label,
                                                             gid=f"mean:{key}")
            (self.lines[f"std:{key}"],) = self.ax_std.plot([], [], color=color, lw=lw, label=label,
                                                           gid=f"std:{key}")
        self.legend, self._legends = None, {}  # under both panels (inside either it covered a curve): see refresh
        self.ax_mean.set_title("mean of each layer's output", fontsize=11)
        self.ax_std.set_title("standard deviation of each layer's output", fontsize=11)

    def blit_static(self):
        return [self.ax_mean.title, self.ax_std.title]  # fixed titles: drawn once, not at each frame

    def _freeze_layout(self):
        # Lay out once (then blit) with the widest tick labels the y axes can get, so that none runs into the
        # axis label later: 10^20 (means and stds reach 4e25 with every condition broken; no mean falls below -1).
        limits = [ax.get_ylim() for ax in (self.ax_mean, self.ax_std)]
        self.ax_mean.set_ylim(-1.1, 1e26)
        self.ax_std.set_ylim(0.25, 1e26)
        _symlog_ticks(self.ax_mean)
        _log_ticks(self.ax_std)
        super()._freeze_layout()
        for ax, lim in zip((self.ax_mean, self.ax_std), limits):
            ax.set_ylim(*lim)
        _symlog_ticks(self.ax_mean)
        _log_ticks(self.ax_std)

    def compute(self, standardized, lecun_normal, sequential, dense_only):
        """The :class:`LayerMoments` of these checkbox values, for 100 layers (cached)."""
        t0 = time.perf_counter()
        m = selu_conditions(standardized, lecun_normal, sequential, dense_only, depth=self.max_depth)
        self.timings["compute"] = time.perf_counter() - t0
        return m

    def refresh(self, standardized, lecun_normal, sequential, dense_only, depth):
        now = self.compute(standardized, lecun_normal, sequential, dense_only).head(depth)
        base = self.compute(True, True, True, True).head(depth)
        broken = not (standardized and lecun_normal and sequential and dense_only)
        for key, m in (("base", base), ("now", now)):
            self.lines[f"mean:{key}"].set_data(m.layer, plots.finite_or_nan(m.mean))
            self.lines[f"std:{key}"].set_data(m.layer, plots.positive_finite(m.std))
        for q in ("mean", "std"):
            self.lines[f"{q}:now"].set_visible(broken)
        # hidden while nothing is broken (it would lie under the blue line): then out of the legend too
        for q in ("mean", "std"):
            self.lines[f"{q}:now"].set_label(now.label if broken else "_your network")
        self._set_legend([self.lines["std:base"]] + ([self.lines["std:now"]] if broken else []))
        moments_axes(self.ax_mean, self.ax_std, depth)
        ruler = plots.layer_span(depth, self.layer_ruler, self.max_depth)
        for ax in (self.ax_mean, self.ax_std):
            plots.layer_axis(ax, ruler)
        self.moments = now
        self.readout.value = self._readout(now, broken, dict(standardized=standardized, lecun_normal=lecun_normal,
                                                             sequential=sequential, dense_only=dense_only))

    def _set_legend(self, handles):
        """One legend under both panels (it names the lines of both), in the room the layout leaves there
        (:attr:`legend_room`): a QuickLegend of the mean panel, one per set of entries, drawn from its pixel copy
        with the data (as a static figure legend, each new set of entries started a full draw: 60-65 ms of CPU)."""
        labels = tuple(h.get_label() for h in handles)
        legend = self._legends.get(labels)
        if legend is None:
            with plots.style():
                legend = plots.QuickLegend(self.ax_mean, handles, list(labels), loc="lower center",
                                           bbox_to_anchor=(0.5, 0.0), bbox_transform=self.figure.transFigure,
                                           ncols=2, fontsize=9.5, edgecolor="white")
            legend.set_in_layout(False)  # the layout leaves it its room (legend_room)
            legend._remove_method = self.ax_mean._remove_legend
            self._legends[labels] = legend
        self.ax_mean.legend_ = self.legend = legend

    @staticmethod
    def _summary_lines(m, broken, flags):
        L = m.depth
        mean, std = m.at(L)
        lines = [f"layer {L}: mean {mean:.3g}, std {std:.3g} (targets: 0 and 1)"]
        if not broken:
            lines.append("All four conditions hold: the mean stays near 0 and the std near 1 in every layer.")
        else:
            lines += [_WHY[k] for k, ok in flags.items() if not ok]
        return lines

    def _readout(self, m, broken, flags):
        lines = self._summary_lines(m, broken, flags)
        return f"<b>{html.escape(lines[0])}</b><br>" + "<br>".join(html.escape(s) for s in lines[1:])

    def summary(self) -> str:
        """What the explorer shows now, as plain text (for printing in a notebook)."""
        v = self.values
        flags = {k: v[k] for k in ("standardized", "lecun_normal", "sequential", "dense_only")}
        broken = not all(flags.values())
        return "\n".join([self.moments.label] + self._summary_lines(self.moments, broken, flags))


#: Theorem 1 of Klambauer et al. (2017) holds for weights with omega and tau in these ranges.
THEOREM_1_WEIGHTS = {"omega": (-0.1, 0.1), "tau": (0.95, 1.1)}


class SeluMapExplorer(Explorer):
    """One SELU layer as a map g of (mean, variance): move the weight sums and watch the fixed point move.

    The left panel is :func:`plot_selu_map` for the current ``omega`` (sum of a unit's weights) and
    ``tau`` (sum of their squares): arrows from (mu, nu) to g(mu, nu), the path of a starting point
    through 12 layers, and the fixed point (:func:`gradviz.theory.selu_fixed_point`) when one is found.
    The right panel follows the variance of that path through :attr:`n_steps` layers, beside the fixed
    point's variance. The readout gives the fixed point, the spectral radius and the spectral norm of
    the Jacobian there, and whether (omega, tau) lies in the range of Theorem 1 of Klambauer et al. (2017).

    Controls: ``omega``, ``tau``, ``start_mean``, ``start_var``.
    """

    figsize = (11.0, 4.6)
    #: Layers followed in the right panel.
    n_steps = 30

    def __init__(self, canvas="auto", **values):
        self.readout = ipywidgets.HTML()
        super().__init__(canvas, **values)

    def make_controls(self):
        w = ipywidgets

        def slider(description, low, high, value, step):
            return w.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                                 readout_format=".2f", style=widgets.CONTROL_STYLE)

        return {"omega": slider("omega (sum of weights)", -0.2, 0.2, 0.0, 0.01),
                "tau": slider("tau (sum of squared weights)", 0.7, 2.5, 1.0, 0.05),
                "start_mean": slider("start: mean", -1.0, 1.0, 0.9, 0.05),
                "start_var": slider("start: variance", 0.1, 3.0, 2.8, 0.05)}

    def setup_figure(self, fig):
        self.ax_map, self.ax_var = fig.subplots(1, 2, width_ratios=[1.25, 1])
        ax = self.ax_var
        plots.tidy(ax)
        (self.var_line,) = ax.plot([], [], "-o", ms=3, lw=1.3, color=plots.OKABE_ITO["vermillion"], gid="variance",
                                   label="variance after each layer")
        self.fp_line = ax.axhline(1.0, color=TARGET_COLOR, lw=1.2, ls=(0, (4, 3)), gid="fixed_point_var",
                                  label="the fixed point's variance (if any)")
        ax.set_yscale("log")
        ax.set_xlabel("layers (applications of $g$)")
        ax.set_ylabel(r"variance $\nu$ (log scale)")
        ax.set_title("the variance, layer after layer", fontsize=11)
        plots.legend_below(ax)  # off the curve, and the same at every step: drawn once (blit_static)

    def blit_static(self):
        return [self.ax_var.title, self.ax_var.get_legend()]

    def refresh(self, omega, tau, start_mean, start_var):
        fp = selu_fixed_point(omega=omega, tau=tau)
        traj = selu_map_trajectory(start_mean, start_var, self.n_steps, omega, tau)
        # the map shows the first 12 steps of the path and the fixed point, and at least [-1, 1] x [0.1, 3]
        shown = traj[:13]
        means, variances = list(shown[:, 0]), list(shown[:, 1])
        if fp.converged:
            means.append(fp.mean)
            variances.append(fp.var)
        mean_range = (min(-1.0, 1.1 * min(means)), max(1.0, 1.1 * max(means)))
        var_top = float(min(max(3.0, 1.1 * max(variances)), 100.0))
        for artist in [*self.ax_map.lines, *self.ax_map.collections]:  # the previous map (cheaper than clear())
            artist.remove()
        plot_selu_map(self.ax_map, omega=omega, tau=tau, mean_range=mean_range, var_range=(0.1, var_top),
                      starts=((start_mean, start_var),), n_steps=12, legend=False)
        # the same title in plain text: it changes at every step, and mathtext took 5-15 ms of each frame
        self.ax_map.set_title(f"one SELU layer maps (μ, ν) to g(μ, ν)  (ω = {omega:g}, τ = {tau:g})", fontsize=11)
        self.var_line.set_data(np.arange(self.n_steps + 1), traj[:, 1])
        self.fp_line.set_visible(fp.converged)
        if fp.converged:
            self.fp_line.set_ydata([fp.var, fp.var])
        self.autoscale(self.ax_var)
        lo, hi = self.ax_var.get_ylim()
        if fp.converged:
            self.ax_var.set_ylim(min(lo, fp.var / 1.5), max(hi, fp.var * 1.5))
        _log_ticks(self.ax_var)
        self.fixed_point, self.trajectory = fp, traj
        lines = self._summary_lines(omega, tau, fp, traj)
        self.readout.value = f"<b>{html.escape(lines[0])}</b><br>" + "<br>".join(html.escape(x) for x in lines[1:])

    @staticmethod
    def _summary_lines(omega, tau, fp, traj):
        (o_lo, o_hi), (t_lo, t_hi) = THEOREM_1_WEIGHTS["omega"], THEOREM_1_WEIGHTS["tau"]
        inside = o_lo <= omega <= o_hi and t_lo <= tau <= t_hi
        m, v = traj[-1]
        lines = []
        if fp.converged:
            lines.append(f"omega = {omega:.2f}, tau = {tau:.2f}: fixed point (mean, variance) = "
                         f"({round(fp.mean, 4) + 0.0:.4g}, {fp.var:.4g})")
            lines.append(f"Jacobian there: spectral radius {fp.spectral_radius:.3f} (the factor per layer in the "
                         f"long run), spectral norm {fp.spectral_norm:.3f} (the most one layer can stretch a small "
                         "deviation).")
            if fp.spectral_radius < 1 <= fp.spectral_norm:
                lines.append("The spectral norm is above 1: one layer can stretch some deviations; the spectral "
                             "radius is below 1, so over many layers they still shrink.")
            elif fp.spectral_norm < 1:
                lines.append("Both are below 1: the fixed point attracts, and a deviation shrinks at every layer.")
        else:
            lines.append(f"omega = {omega:.2f}, tau = {tau:.2f}: no fixed point found; the variance runs away.")
        lines.append(f"The path from the start is at mean {m:.3g}, variance {v:.3g} after {len(traj) - 1} layers.")
        lines.append(f"The map's (omega, tau), the same for every unit, is {'inside' if inside else 'outside'} the "
                     f"range of Theorem 1 of Klambauer et al. (2017): omega in [{o_lo}, {o_hi}], tau in [{t_lo}, "
                     f"{t_hi}]. (In a real layer each unit j has its own omega_j; with LeCun's init their standard "
                     "deviation is 1.)")
        return lines

    def summary(self) -> str:
        """What the explorer shows now, as plain text (for printing in a notebook)."""
        v = self.values
        return "\n".join(self._summary_lines(v["omega"], v["tau"], self.fixed_point, self.trajectory))
