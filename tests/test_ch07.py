"""Chapter 07 (playground): the package functions behind every number the chapter prints, the guide's
claims, the playground explorer driven through its controls, the chapter's figures and exercises."""

from __future__ import annotations

import ast
import json
import pathlib

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import gradviz as gv  # noqa: E402
from gradviz import exercises, figures  # noqa: E402
from gradviz.chapters import ch07_playground as ch  # noqa: E402
from gradviz.losses import softmax_cross_entropy  # noqa: E402
from gradviz.network import MLP  # noqa: E402

NOTEBOOK = pathlib.Path(__file__).resolve().parents[1] / "notebooks" / "07_playground.ipynb"
P = ch.PRESETS


def line(ax, gid):
    (ln,) = [x for x in ax.lines if x.get_gid() == gid]
    return ln


# ----------------------------------------------------------------------------- settings
def test_settings_fill_defaults_and_resolve_auto():
    s = ch.settings()
    assert list(s) == list(ch.DEFAULTS)
    assert s["init"] == "he_normal"  # recommended for relu
    assert ch.settings(activation="sigmoid")["init"] == "glorot_uniform"
    assert ch.settings(activation="selu")["init"] == "lecun_normal"
    assert ch.settings(init="kaiming_normal")["init"] == "he_normal"


@pytest.mark.parametrize("bad, err, words", [
    (dict(depht=3), TypeError, "no knob depht"),
    (dict(depth=0), ValueError, "depth"),
    (dict(activation="relux"), ValueError, "activation"),
    (dict(init="xavier"), ValueError, "init"),
    (dict(weight_scale=0.0), ValueError, "weight_scale"),
    (dict(batch_norm="yes"), ValueError, "batch_norm"),
    (dict(bn_momentum=1.0), ValueError, "bn_momentum"),
    (dict(lr=-0.1), ValueError, "lr"),
    (dict(steps=2.5), TypeError, "steps"),
    (dict(batch_size=1, batch_norm="before"), ValueError, "batch_size"),
    (dict(dataset="mnist"), ValueError, "dataset"),
    (dict(seed=-1), ValueError, "seed"),
])
def test_settings_reject_bad_knobs_by_name(bad, err, words):
    with pytest.raises(err, match=words):
        ch.settings(**bad)


def test_label_and_network():
    s = dict(depth=3, width=16, activation="tanh", weight_scale=2.0, batch_norm="after", bn_momentum=0.99,
             dataset="digits_raw", seed=4)
    label = ch.label(s)
    for part in ("tanh", "glorot_uniform x2", "BN after (momentum 0.99)", "3x16", "raw pixels", "seed 4"):
        assert part in label
    net = ch.network(**s)
    assert isinstance(net, MLP) and net.hidden == (16,) * 3 and net.n_inputs == 64 and net.n_outputs == 10
    assert net.dtype == np.float64 and net.batch_norm == "after"
    assert all(b.bn_after.momentum == 0.99 for b in net.blocks)
    ref = MLP(64, depth=3, width=16, activation="tanh", init="glorot_uniform", weight_scale=2.0, batch_norm="after",
              seed=4)
    np.testing.assert_array_equal(net.blocks[2].dense.params["W"], ref.blocks[2].dense.params["W"])


def test_datasets_are_the_same_digits_raw_and_standardised():
    std, raw = ch.dataset("digits"), ch.dataset("digits_raw")
    np.testing.assert_array_equal(std.y_train, raw.y_train)
    np.testing.assert_allclose((raw.X_train - std.mean) / std.std, std.X_train, atol=1e-12)
    assert raw.X_train.min() == 0 and raw.X_train.max() == 16
    assert ch.dataset("digits") is std  # loaded once


# ----------------------------------------------------------------------------- the initial view
def test_initial_view_is_one_pass_of_the_real_network_on_real_digits():
    s = dict(depth=4, width=16, activation="tanh", init="glorot_normal", weight_scale=1.3, seed=2)
    iv = ch.initial_view(**s)
    data = ch.dataset("digits")
    net = ch.network(**s)
    x, y = data.X_train[:256], data.y_train[:256]
    logits = net.forward(x, training=True, record=True)
    _, dlogits = softmax_cross_entropy(logits, y)
    net.backward(dlogits, record=True)
    for l, rec in enumerate(net.records):
        assert iv.stats.a_var[l] == pytest.approx(np.var(rec["a"]), rel=1e-12)
        assert iv.stats.da_var[l] == pytest.approx(np.var(256 * rec["da"]), rel=1e-12)  # each example's own loss
        assert iv.stats.grad_norm[l] == pytest.approx(np.linalg.norm(rec["dW"]), rel=1e-12)  # batch-mean loss
    assert iv.input_second_moment == pytest.approx(np.mean(x ** 2))
    assert iv.n_examples == 256
    # the prediction is fed the input's second moment and anchored at the measured top gradient
    p = iv.prediction
    assert p.widths == (64, 16, 16, 16, 16)
    assert p.da_var[-1] == pytest.approx(iv.stats.da_var[-1])
    assert iv.gradient_ratio == pytest.approx(iv.stats.da_var[0] / iv.stats.da_var[-1])
    assert iv.size_factor == pytest.approx(iv.gradient_ratio ** (1 / 6))
    assert iv.size_factor == pytest.approx(ch.size_factor(iv.stats.da_var))
    assert iv.weight_grad_ratio == pytest.approx(iv.stats.grad_norm[0] / iv.stats.grad_norm[-1])
    assert ch.initial_view(**s) is iv  # cached
    assert ch.initial_view(**s, lr=5.0, steps=50) is iv  # training knobs do not matter


def test_initial_view_with_batch_norm_has_no_prediction_and_leaves_no_trace():
    iv = ch.initial_view(depth=3, width=16, activation="relu", batch_norm="before")
    assert iv.prediction is None
    assert np.isnan(ch.initial_view(depth=1, width=16).size_factor)
    # raw pixels: the same first-layer weights see inputs with a much larger second moment
    raw = ch.initial_view(depth=3, width=16, activation="relu", dataset="digits_raw")
    std = ch.initial_view(depth=3, width=16, activation="relu")
    assert raw.input_second_moment > 30 * std.input_second_moment
    assert raw.stats.a_var[0] > 30 * std.stats.a_var[0]


# ----------------------------------------------------------------------------- the cures
def test_size_factor():
    assert ch.size_factor([4.0, 1.0]) == pytest.approx(2.0)
    assert ch.size_factor([1.0, 2.0, 4.0]) == pytest.approx(0.5 ** 0.5)
    assert np.isnan(ch.size_factor([np.nan, 1.0])) and np.isnan(ch.size_factor([0.0, 1.0]))
    with pytest.raises(ValueError, match="da_var"):
        ch.size_factor([1.0])


def test_batch_norm_factor():
    assert ch.batch_norm_factor("linear") == pytest.approx(1.0)
    assert ch.batch_norm_factor("relu") == pytest.approx(np.sqrt(np.pi / (np.pi - 1)), rel=1e-6)
    assert 1.0 < ch.batch_norm_factor("sigmoid") < 1.05 < ch.batch_norm_factor("tanh") < 1.15
    with pytest.raises(ValueError, match="activation"):
        ch.batch_norm_factor("relux")


@pytest.fixture(scope="module")
def cures():
    return ch.cure_factors()


def test_cure_factors_the_chapter_prints(cures):
    f = dict(zip(cures.labels, cures.measured))
    theory = dict(zip(cures.labels, cures.predicted))
    assert cures.depth == 20 and cures.width == 128 and len(cures.labels) == len(ch.CURES)
    for label in cures.labels:  # every measurement within 5 % of its prediction
        assert f[label] == pytest.approx(theory[label], rel=0.05), label
    assert 0.2 < f["sigmoid, Glorot"] < 0.26 and f["sigmoid, naive U(+-1/sqrt(n))"] < 0.16
    assert f["ReLU, Glorot"] == pytest.approx(np.sqrt(0.5), rel=0.05)
    assert f["ReLU, He"] == pytest.approx(1.0, abs=0.03)
    assert f["ReLU, He x 1.5 (large weights)"] == pytest.approx(1.5, rel=0.03)
    assert 0.9 < f["tanh, Glorot"] < 1.0
    # batch norm: the weight scale drops out; ReLU's gradient grows towards the input (Yang et al. 2019)
    assert f["sigmoid, Glorot, batch norm"] == pytest.approx(f["sigmoid, Glorot x 5, batch norm"], rel=0.01)
    assert f["ReLU, He, batch norm"] > 1.15
    table = cures.as_table()
    assert "measured^19" in table and len(table.splitlines()) == len(cures.labels) + 1


# ----------------------------------------------------------------------------- the guide's claims
@pytest.fixture(scope="module")
def guide():
    return {name: ch.run(**settings) for name, settings in P.items()}


def test_every_guide_run_is_a_preset_and_the_notebook_runs_exactly_the_presets(guide):
    nb = json.loads(NOTEBOOK.read_text())
    calls = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "run":
                kw = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg != "progress"}
                calls.append(ch.settings(**kw))
    presets = [ch.settings(**s) for s in P.values()]
    assert sorted(map(str, calls)) == sorted(map(str, presets))


def test_guide_claims(guide):
    r = {name.split(".")[0]: run for name, run in guide.items()}
    # 1: vanishing; no saturation; at chance
    assert 0.2 < r["1"].initial.size_factor < 0.3 and r["1"].initial.weight_grad_ratio < 1e-4
    assert np.mean(r["1"].initial.stats.saturated_fraction) < 0.005 and r["1"].outcome == "at chance"
    # 2: He keeps the gradient; learns far above chance
    assert 0.9 < r["2"].initial.size_factor < 1.1 and r["2"].test_accuracy > 0.6
    assert 0.1 < r["2"].initial.weight_grad_ratio < 10
    # 3: Glorot with ReLU: ~0.71 per layer, activations shrink going up, weight gradients balanced, slow
    assert 0.6 < r["3"].initial.size_factor < 0.8
    assert r["3"].initial.stats.a_var[-1] < r["3"].initial.stats.a_var[0] / 100
    assert 0.5 < r["3"].initial.weight_grad_ratio < 2
    assert r["3"].test_accuracy < r["2"].test_accuracy - 0.3
    # 4: 1.5 x He explodes and diverges
    assert 1.35 < r["4"].initial.size_factor < 1.65 and r["4"].outcome == "diverged"
    assert r["4"].history.loss[0] > 10 * np.log(10)
    # 5: batch norm rescues the sigmoid network
    assert 0.95 < r["5"].initial.size_factor < 1.15 and r["5"].test_accuracy > 0.8
    # 6: too large a learning rate: overflow at 5, a dead network at 20
    assert r["6a"].outcome == "diverged" and r["6b"].outcome == "dead" and r["6b"].test_accuracy < 0.2
    assert np.sum(r["6b"].final_dead_fraction >= 1.0) >= 2
    # 7: raw pixels diverge; batch norm in the hidden layers fixes it
    assert r["7a"].initial.input_second_moment > 30 and r["7a"].outcome == "diverged"
    assert r["7a"].history.loss[0] > 3 * np.log(10)
    assert 0.9 < r["7a"].initial.size_factor < 1.1
    assert r["7b"].test_accuracy > 0.8
    # 8: momentum 0.99 lags behind in a 50-step run
    assert r["8a"].test_accuracy < r["8b"].test_accuracy - 0.1
    assert np.array_equal(r["8a"].history.loss, r["8b"].history.loss)  # the same training steps


def test_runs_are_cached_and_summarised(guide):
    name = "2. deep ReLU, He init"
    run = guide[name]
    assert ch.run(**P[name]) is run and ch.is_cached(**P[name])
    assert not ch.is_cached(**P[name], seed=12345)
    text = run.summary()
    for part in ("settings: relu, he_normal, 10x32", "input E[x^2]", "per layer in size", "test accuracy",
                 "dead units per layer", "outcome: above chance"):
        assert part in text
    assert repr(run).startswith("PlaygroundRun(relu")
    assert run.outcome in ch.OUTCOMES
    assert all(not b.record for b in run.net.blocks)  # no (n_train, width) arrays kept alive in the cache


# ----------------------------------------------------------------------------- the explorer
@pytest.fixture
def pg():
    ex = ch.PlaygroundExplorer(canvas="none", progress=False, max_depth=12, depth=3, width=16)
    ex.figure.canvas.draw()
    return ex


def snapshot(ex):
    return np.concatenate([line(ex.ax_var, "measured:a").get_ydata(), line(ex.ax_var, "measured:da").get_ydata()])


def test_every_knob_changes_the_initial_view_or_the_training_settings(pg):
    assert set(pg.controls) == {"preset", "run", "clear"} | set(ch.DEFAULTS)
    init_knobs = {"width": 32, "activation": "sigmoid", "init": "lecun_normal", "weight_scale": 2.0, "seed": 7,
                  "dataset": "digits_raw", "batch_norm": "before", "depth": 5}
    for name, value in init_knobs.items():
        before = snapshot(pg)
        pg.controls[name].value = value
        after = snapshot(pg)
        assert before.shape != after.shape or not np.allclose(before, after, equal_nan=True), name
        assert pg.training.values[name] == value
    assert np.isnan(line(pg.ax_var, "predicted:a").get_ydata()).all()  # batch norm: no prediction
    for name, value in {"lr": 0.5, "steps": 50, "batch_size": 32, "bn_momentum": 0.99}.items():
        before, status = snapshot(pg), pg.training.status.value
        pg.controls[name].value = value
        np.testing.assert_array_equal(before, snapshot(pg))  # training knobs do not change the initial network
        assert pg.training.status.value != status and pg.training.values[name] == value, name
    assert "not trained yet" in pg.training.status.value


def test_initial_view_matches_the_package_and_rescales(pg):
    pg.update(activation="sigmoid", init="glorot_uniform", depth=12, width=32)
    iv = ch.initial_view(depth=12, width=32, activation="sigmoid")
    np.testing.assert_allclose(line(pg.ax_var, "measured:da").get_ydata(), iv.stats.da_var)
    assert pg.ax_var.get_ylim()[0] <= iv.stats.da_var.min()
    assert "vanishes" in pg.readout.value and f"x{iv.size_factor:.3g} per layer" in pg.readout.value
    assert "E[x<sup>2</sup>]" in pg.heading_init.value
    pg.update(dataset="digits_raw")
    assert "raw pixels" in pg.heading_init.value


def test_presets_set_every_knob_and_a_moved_knob_says_custom(pg):
    name = "5. deep sigmoid, Glorot init, batch norm"
    pg.controls["preset"].value = name
    want = ch.settings(**{**ch.DEFAULTS, **P[name]})
    assert ch.settings(**pg.knobs) == want and pg.values["preset"] == name
    pg.controls["width"].value = 64
    assert pg.values["preset"] == "custom"
    pg.apply_preset("4. deep ReLU, He init x 1.5")
    assert pg.knobs["weight_scale"] == pytest.approx(1.5) and pg.values["preset"] == "4. deep ReLU, He init x 1.5"
    pg.update(seed=3)
    assert pg.values["preset"] == "custom"
    with pytest.raises(ValueError, match="name"):
        pg.apply_preset("9. nothing")
    ex = ch.PlaygroundExplorer(canvas="none", progress=False, preset=name)
    assert ex.values["preset"] == name and ex.knobs["batch_norm"] == "before"


def test_run_and_clear_buttons_share_the_package_cache(pg, capsys):
    pg.update(depth=1, width=16, steps=50, batch_size=32)
    pg.controls["run"].click()
    runs = pg.training.runs
    assert len(runs) == 1
    label = next(iter(runs))
    assert len(line(pg.training.ax_loss, f"loss:{label}").get_xdata()) == 50
    run = ch.run(**pg.knobs)
    assert runs[label] is run.history  # the same object: trained once, shared
    assert "trained before" in pg.training.status.value and "last run" in pg.training.status.value
    assert "last run" in pg.summary()
    pg.update(lr=0.3)
    assert pg.run() is ch.run(**pg.knobs) and len(pg.training.runs) == 2
    assert pg.training.ax_grad.collections  # the heat map of the last run
    pg.controls["clear"].click()
    assert not pg.training.runs
    pg.figure.canvas.draw()
    pg.training.figure.canvas.draw()
    assert capsys.readouterr().out == ""


def test_image_canvas_display_and_summary():
    ex = ch.PlaygroundExplorer(canvas="image", progress=False, depth=2, width=16)
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert ex._view.value[:8] == b"\x89PNG\r\n\x1a\n"
    text = ex.summary()
    assert text.startswith("settings: relu, he_normal, 2x16") and "<" not in text
    assert ch._html_to_text("a<sup>2</sup> &amp; <b>b</b>") == "a^2 & b"


# ----------------------------------------------------------------------------- figures and exercises
def test_figures(guide, cures):
    assert figures.FIGURES["playground_guide_runs"].chapter == 7 and figures.FIGURES["per_layer_factors"].chapter == 7
    fig = ch.guide_runs()
    ax_grad, ax_loss, _ = fig.axes[:3]
    for name in ch.COMPARED_PRESETS:
        np.testing.assert_allclose(line(ax_grad, f"grad:{name}").get_ydata(), guide[name].initial.stats.da_var)
    assert any(t.get_gid() == "diverged_note" and "4:" in t.get_text() for t in ax_loss.texts)
    fig = ch.per_layer_factors(cures)
    ax = fig.axes[0]
    for label, m, p in zip(cures.labels, cures.measured, cures.predicted):
        assert line(ax, f"measured:{label}").get_xdata()[0] == m
        assert line(ax, f"predicted:{label}").get_xdata()[0] == p
    fig.canvas.draw()


def test_exercises(capsys):
    assert exercises.EXERCISES["07.1"].answer() == pytest.approx(np.sqrt(2))
    g = exercises.EXERCISES["07.2"].answer()
    assert 9 < g < 11.5 and ch.sigmoid_deep_factor(g) == pytest.approx(1.0, abs=1e-6)
    assert ch.sigmoid_deep_factor(1.0) == pytest.approx(0.236, abs=0.002)
    std, raw = ch.dataset("digits"), ch.dataset("digits_raw")
    r = exercises.EXERCISES["07.3"].answer()
    assert r == pytest.approx(np.mean(raw.X_train ** 2) / np.mean(std.X_train ** 2)) and r > 30
    assert gv.exercises.check("07.1", 1.414) and not gv.exercises.check("07.1", 1.0)
    assert gv.exercises.check("07.2", 10.0) and not gv.exercises.check("07.2", 4.0)
    assert gv.exercises.check("07.3", r) and not gv.exercises.check("07.3", 16.0)
    for k in ("07.1", "07.2", "07.3"):
        gv.exercises.solution(k)
    out = capsys.readouterr().out
    assert "sqrt(2)" in out and "He et al. 2015" in out and "standardised" in out
