"""The training loop: it learns the digits, shows vanishing gradients and the
symmetry problem, stops cleanly when a run diverges, and repeats bit for bit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gradviz.data import load_digits
from gradviz.network import MLP, BatchNormOptions
from gradviz.train import History, train

STEPS = 300  # the same budget for every "does it learn" comparison below
LR = 0.1
BATCH = 64


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


def _train(net, data, **kw):
    kw = {"lr": LR, "steps": STEPS, "batch_size": BATCH, "progress": False, "seed": 0, **kw}
    return train(net, data, **kw)


# ------------------------------------------------------------------ learning
def test_well_initialised_relu_net_learns_the_digits(digits):
    net = MLP(64, hidden=(64, 64), activation="relu", init="he_normal", seed=0)
    h = _train(net, digits, record_every=100)
    # Observed (numpy 2.4, OpenBLAS): test accuracy 96.2% and train accuracy 99.9% for
    # net/train seed 0; 96.7% / 95.1% test for seeds 1 / 2. Assert a safe margin under that.
    assert h.test_accuracy[-1] >= 0.90
    assert h.train_accuracy[-1] >= 0.95
    assert not h.diverged and h.diverged_step is None and h.steps_run == STEPS
    # At initialisation the accuracy is near chance (1 in 10).
    assert h.test_accuracy[0] < 0.3
    # The minibatch loss falls: from about ln(10) = 2.3 nats to well under 0.3.
    assert h.loss[0] > 1.5
    assert h.loss[-20:].mean() < 0.3
    assert np.isfinite(h.grad_norm).all() and (h.grad_norm > 0).all()
    assert "test accuracy" in h.status


def test_deep_sigmoid_net_with_small_init_barely_learns(digits):
    # Ten sigmoid layers, weights N(0, 0.01^2): the same steps and learning rate as above.
    net = MLP(64, depth=10, width=32, activation="sigmoid", init="normal", init_kwargs={"std": 0.01}, seed=0)
    h = _train(net, digits, record_every=STEPS)
    # Observed: test accuracy 9.8% (chance level; 10.2% for seeds 1 and 2), and at step 0 the
    # weight gradient of layer 1 is about 1e-15 times that of layer 10 (the product of ten
    # factors sigma' * |W| ~ 0.25 * 0.01 * sqrt(width) each).
    assert h.test_accuracy[-1] < 0.25
    g0 = h.grad_norm[0]
    assert g0[0] < 1e-8 * g0[-1]
    # The norm shrinks layer by layer, from the output towards the input.
    assert np.all(np.diff(g0) > 0)


def test_zero_init_keeps_every_hidden_unit_identical(digits):
    # The symmetry problem: with all weights 0 every unit of a layer gets the same gradient
    # at every step, so after training all columns of W (one per unit) are still equal.
    net = MLP(64, hidden=(16, 16), activation="sigmoid", init="zeros", seed=0)
    h = _train(net, digits, steps=100, record_every=100)
    assert not h.diverged
    for block in net.blocks:
        W = block.dense.params["W"]
        assert np.abs(W).max() > 0  # the weights did move...
        np.testing.assert_allclose(W, W[:, :1].repeat(W.shape[1], axis=1), rtol=1e-12, atol=1e-15)
        b = block.dense.params["b"]
        np.testing.assert_allclose(b, b[0], rtol=1e-12, atol=1e-15)
    # ...and every hidden unit sends the same weights to the outputs (rows of the output W).
    Wo = net.output.params["W"]
    np.testing.assert_allclose(Wo, Wo[:1].repeat(Wo.shape[0], axis=0), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ divergence
def test_a_diverging_run_stops_cleanly_and_says_where(digits, capfd):
    net = MLP(64, hidden=(64, 64), activation="relu", seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = _train(net, digits, lr=1e4, steps=100, record_every=50)
    assert caught == []
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    # Observed: the loss is no longer finite at step 6 (seeds 0, 1, 2); overflow first in hidden layer 2.
    assert h.diverged
    assert h.diverged_step is not None and h.diverged_step < 100
    assert h.steps_run == h.diverged_step  # the failing update was not applied
    assert h.step[-1] == h.diverged_step and len(h.loss) == h.diverged_step + 1
    assert np.isfinite(h.loss[:-1]).all()
    assert h.nonfinite_layer in (1, 2)
    # The last record point is the failing step, and the overflow shows there.
    assert h.record_steps[-1] == h.diverged_step
    assert not np.isfinite(h.grad_norm[-1]).all()
    assert h.test_accuracy[-1] < 0.2
    assert "non-finite" in h.status and "stopped at step" in repr(h)


# ------------------------------------------------------------------ reproducibility
def _run(net_seed, train_seed, data):
    net = MLP(64, hidden=(32, 32), activation="prelu", seed=net_seed, dropout=0.1)
    h = train(net, data, lr=0.05, steps=40, batch_size=32, momentum=0.9, clip_norm=1.0,
              seed=train_seed, record_every=10, progress=False)
    return net, h


def test_same_seed_gives_the_same_history_bit_for_bit(digits):
    (net1, h1), (net2, h2) = _run(3, 5, digits), _run(3, 5, digits)
    for name in History.ARRAYS:
        a, b = getattr(h1, name), getattr(h2, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), name
    for (l1, k), (l2, _) in zip(net1.parameters(), net2.parameters()):
        assert l1.params[k].tobytes() == l2.params[k].tobytes()
    _, h3 = _run(3, 6, digits)  # another minibatch order
    assert not np.array_equal(h1.loss, h3.loss)


# ------------------------------------------------------------------ what is recorded
def test_record_points_and_shapes(digits):
    net = MLP(64, hidden=(16, 8, 8), activation="relu", seed=0)
    h = train(net, digits, lr=0.05, steps=20, batch_size=16, record_every=7, progress=False)
    np.testing.assert_array_equal(h.record_steps, [0, 7, 14, 20])
    np.testing.assert_array_equal(h.step, np.arange(20))
    assert h.loss.shape == (20,)
    n, L = 4, 3
    assert h.depth == L
    for name in ("grad_norm", "a_std", "da_std", "dead_fraction", "saturated_fraction"):
        assert getattr(h, name).shape == (n, L), name
    for name in ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "global_grad_norm"):
        assert getattr(h, name).shape == (n,), name
    assert h.prelu_alpha is None
    assert ((0 <= h.dead_fraction) & (h.dead_fraction <= 1)).all()
    assert (h.saturated_fraction == 0).all()  # ReLU does not saturate
    assert h.config["lr"] == 0.05 and h.config["record_every"] == 7
    # Default record_every: about 25 record points.
    h2 = train(MLP(64, hidden=(8,), seed=0), digits, lr=0.05, steps=50, progress=False)
    np.testing.assert_array_equal(h2.record_steps, np.arange(0, 51, 2))


def test_prelu_slopes_are_recorded_and_learned(digits):
    net = MLP(64, hidden=(32, 32), activation="prelu", seed=0)
    h = _train(net, digits, steps=100, record_every=25)
    assert h.prelu_alpha.shape == (5, 2)
    np.testing.assert_array_equal(h.prelu_alpha[0], [0.25, 0.25])  # He et al. (2015) initial slope
    assert np.abs(h.prelu_alpha[-1] - 0.25).max() > 1e-3
    final = [net.blocks[i].act.params["alpha"].mean() for i in range(2)]
    np.testing.assert_array_equal(h.prelu_alpha[-1], final)


def test_deep_sigmoid_with_large_init_saturates(digits):
    net = MLP(64, depth=4, width=32, activation="sigmoid", init="normal", init_kwargs={"std": 2.0}, seed=0)
    h = _train(net, digits, steps=10, record_every=10)
    assert (h.saturated_fraction[0] > 0.3).all()
    assert (h.dead_fraction == 0).all()


def test_dead_relu_units_are_counted(digits):
    # A strongly negative bias switches (almost) every ReLU off for every example.
    net = MLP(64, hidden=(32, 32), activation="relu", bias=-10.0, seed=0)
    h = _train(net, digits, steps=10, record_every=10)
    assert h.dead_fraction[0, -1] > 0.9


def test_mse_loss_float32_and_batch_norm(digits):
    h = _train(MLP(64, hidden=(32,), activation="relu", seed=0), digits, steps=200, loss="mse", record_every=200)
    assert h.test_accuracy[-1] > 0.8  # observed 0.909 (0.887, 0.902 for seeds 1, 2)
    net32 = MLP(64, hidden=(32,), activation="relu", seed=0, dtype=np.float32)
    h32 = _train(net32, digits, steps=50, record_every=50)
    assert net32.output.params["W"].dtype == np.float32 and np.isfinite(h32.loss).all()
    # Batch norm lets a deep sigmoid net learn. Observed test accuracy after 100 steps: 0.849
    # (0.889, 0.898 for seeds 1, 2); the same net without batch norm stays at chance (0.10) even
    # after 300 steps. The running averages need momentum 0.9 here: with the Keras default 0.99,
    # 0.99**100 = 37% of their initial value is still left after 100 steps and inference-mode
    # accuracy is 0.13.
    bn_net = MLP(64, depth=6, width=32, activation="sigmoid", batch_norm=BatchNormOptions("before", momentum=0.9),
                 seed=0)
    hbn = _train(bn_net, digits, steps=100, record_every=100)
    assert hbn.test_accuracy[-1] > 0.7


# ------------------------------------------------------------------ progress bar
def test_progress_off_writes_nothing_and_on_shows_a_bar(digits, capfd):
    net = MLP(64, hidden=(8,), seed=0)
    train(net, digits, lr=0.05, steps=5, progress=False)
    train(net, digits, lr=0.05, steps=5, progress="auto")  # short run: no bar
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    train(net, digits, lr=0.05, steps=5, progress=True)
    out, err = capfd.readouterr()
    assert out == "" and "training:" in err and "0/5" in err


def test_notebook_bar_stores_one_line_and_no_tqdm_residue(digits, monkeypatch):
    """In Jupyter the bar is tqdm's widget; a static render of the stored output shows one line
    saying what ran, never the bar's first frame ('0%| | 0/5 [00:00<?, ?step/s]')."""
    import IPython.display
    from tqdm.notebook import tqdm_notebook

    import gradviz.train as gtrain

    shown = []
    monkeypatch.setattr(gtrain, "tqdm", tqdm_notebook)  # what tqdm.auto picks inside Jupyter
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, kw)))
    train(MLP(64, hidden=(8,), seed=0), digits, lr=0.05, steps=5, progress=True)
    (bundle, kw), = shown
    assert kw == {"raw": True}
    assert set(bundle) == {"application/vnd.jupyter.widget-view+json", "text/plain"}
    assert bundle["text/plain"] == "training (5 steps)"


# ------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize(
    "kw, exc, name",
    [
        ({"lr": 0.0}, ValueError, "lr"),
        ({"lr": -1.0}, ValueError, "lr"),
        ({"lr": float("nan")}, ValueError, "lr"),
        ({"steps": 0}, ValueError, "steps"),
        ({"steps": 2.5}, TypeError, "steps"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 100_000}, ValueError, "batch_size"),
        ({"momentum": 1.0}, ValueError, "momentum"),
        ({"momentum": -0.1}, ValueError, "momentum"),
        ({"clip_norm": 0.0}, ValueError, "clip_norm"),
        ({"clip_value": -1.0}, ValueError, "clip_value"),
        ({"clip_value": 1.0, "clip_norm": 1.0}, ValueError, "clip_norm or clip_value"),
        ({"record_every": 0}, ValueError, "record_every"),
        ({"progress": "yes"}, ValueError, "progress"),
        ({"loss": "hinge"}, ValueError, "loss"),
        ({"seed": "zero"}, TypeError, "seed"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(digits, kw, exc, name):
    net = MLP(64, hidden=(8,), seed=0)
    with pytest.raises(exc, match=name):
        train(net, digits, **{"steps": 5, "progress": False, **kw})


def test_bad_net_or_data_raise(digits):
    with pytest.raises(TypeError, match="net"):
        train("not a net", digits, steps=5)
    with pytest.raises(ValueError, match="n_outputs"):
        train(MLP(64, hidden=(8,), n_outputs=None), digits, steps=5)
    with pytest.raises(ValueError, match="X_train"):
        train(MLP(10, hidden=(8,)), digits, steps=5)
    with pytest.raises(TypeError, match="data"):
        train(MLP(64, hidden=(8,)), digits.X_train, steps=5)
    with pytest.raises(ValueError, match="y_train"):
        train(MLP(64, hidden=(8,), n_outputs=5), digits, steps=5)
    with pytest.raises(ValueError, match="batch_size"):
        train(MLP(64, hidden=(8,), batch_norm="after"), digits, steps=5, batch_size=1)
    # A plain tuple works too.
    d = digits
    h = train(MLP(64, hidden=(8,)), (d.X_train, d.y_train, d.X_test, d.y_test), steps=5, progress=False)
    assert h.steps_run == 5


# ------------------------------------------------------------------ clipping, step by step
@pytest.mark.parametrize("kw", [{"clip_norm": 0.5}, {"clip_value": 0.01}])
def test_clipping_records_the_norm_before_and_after_every_step(digits, kw):
    net = MLP(64, hidden=(16, 16), activation="relu", weight_scale=1.5, seed=0)
    h = train(net, digits, lr=0.05, steps=12, batch_size=32, seed=0, progress=False, **kw)
    assert h.step_grad_norm.shape == h.step_clipped_norm.shape == (h.steps_run,) == (12,)
    assert h.config.get("clip_value") == kw.get("clip_value")
    if "clip_norm" in kw:
        # the norm after clipping is min(before, 0.5)
        np.testing.assert_allclose(h.step_clipped_norm, np.minimum(h.step_grad_norm, 0.5), rtol=1e-12, atol=0)
    else:
        assert np.all(h.step_clipped_norm <= h.step_grad_norm)
        n_entries = sum(p.size for ly, k in net.parameters() for p in [ly.params[k]])
        assert np.all(h.step_clipped_norm <= 0.01 * np.sqrt(n_entries))
    # the first step's norm before clipping is the initial network's global gradient norm
    assert h.step_grad_norm[0] == pytest.approx(h.global_grad_norm[0], rel=1e-12, abs=0)


def test_no_clipping_records_no_step_norms(digits):
    h = train(MLP(64, hidden=(8,), seed=0), digits, steps=3, progress=False)
    assert h.step_grad_norm is None and h.step_clipped_norm is None


def test_clip_value_equals_a_hand_loop(digits):
    from gradviz.losses import softmax_cross_entropy
    from gradviz.optim import SGD, clip_grad_value

    net1 = MLP(64, hidden=(16,), seed=1)
    net2 = MLP(64, hidden=(16,), seed=1)
    train(net1, digits, lr=0.1, steps=3, batch_size=20, clip_value=0.02, seed=4, progress=False, record_every=100)
    rng, opt = np.random.default_rng(4), SGD(0.1)
    order = rng.permutation(digits.X_train.shape[0])
    for t in range(3):
        idx = order[20 * t:20 * (t + 1)]
        _, d = softmax_cross_entropy(net2.forward(digits.X_train[idx], training=True), digits.y_train[idx])
        net2.backward(d)
        clip_grad_value(net2, 0.02)
        opt.step(net2)
    for (l1, k), (l2, _) in zip(net1.parameters(), net2.parameters()):
        np.testing.assert_array_equal(l1.params[k], l2.params[k])


def test_train_calls_back_after_every_step_and_stops_when_the_callback_raises(digits):
    class Stop(Exception):
        pass

    seen = []

    def callback(step, steps):
        seen.append((step, steps))
        if step == 7:
            raise Stop  # as an explorer stops a run that a newer one replaced

    net = MLP(64, depth=1, width=8, n_outputs=10, seed=0)
    with pytest.raises(Stop):
        train(net, digits, steps=20, batch_size=16, progress=False, callback=callback)
    assert seen == [(k, 20) for k in range(1, 8)]
    with pytest.raises(TypeError, match="callback"):
        train(net, digits, steps=2, progress=False, callback="not a function")


def test_run_cache_keeps_whole_runs_and_answers_first_steps_with_the_same_steps(digits):
    from gradviz.train import RunCache, digits_run

    cache = RunCache(steps=40, data=digits)
    config = dict(activation="relu", lr=0.1, seed=3)
    (draft,) = cache.runs([config], steps=20)
    assert draft.history.config["steps"] == 20 and not cache.has([config])
    assert np.isnan(draft.history.train_accuracy).all()  # a first answer skips the training set at its records
    (whole,) = cache.runs([config], keep=False)  # as on a worker thread: not kept
    assert not cache.has([config]) and cache.runs([config], steps=20)[0] is draft
    np.testing.assert_array_equal(draft.history.test_accuracy, whole.history.test_accuracy[:2])
    np.testing.assert_array_equal(whole.history.test_accuracy,
                                  digits_run(steps=40, data=digits, **config).history.test_accuracy)
    assert np.isfinite(whole.history.train_accuracy).all()
    cache.keep([config], [whole])
    assert cache.has([config]) and cache.runs([config], steps=20) == (whole,)  # a whole run answers any steps


def test_train_without_the_training_set_at_record_points_changes_nothing_else(digits):
    """evaluate_train=False (an explorer's first answer): the training set's loss and accuracy are NaN, every
    other number is the same, bit for bit."""
    def run(**kw):
        net = MLP(64, hidden=(16, 16), activation="prelu", seed=0)
        return train(net, digits, lr=0.1, steps=12, batch_size=16, record_every=5, progress=False, **kw)

    full, quick = run(), run(evaluate_train=False)
    assert np.isfinite(full.train_accuracy).all() and np.isnan(quick.train_accuracy).all()
    assert np.isnan(quick.train_loss).all() and quick.config["evaluate_train"] is False
    for name in History.ARRAYS:
        if not name.startswith("train_"):
            np.testing.assert_array_equal(getattr(quick, name), getattr(full, name), err_msg=name)
    with pytest.raises(TypeError, match="evaluate_train"):
        run(evaluate_train="no")


def test_digits_run_counts_its_dead_units_when_first_asked_the_same_as_at_once(digits):
    from gradviz.stats import relu_activity
    from gradviz.train import digits_run

    run = digits_run(lr=3.0, steps=30, data=digits)
    assert run._activity is None  # not counted yet: a first answer that does not show them skips them
    expected = relu_activity(run.net, digits.X_train)
    activity = run.activity
    assert run.activity is activity and activity.n_examples == digits.X_train.shape[0]
    np.testing.assert_array_equal(activity.dead_fraction, expected.dead_fraction)
    np.testing.assert_array_equal(activity.inactive_fraction, expected.inactive_fraction)
    assert activity.dead_fraction.max() > 0  # lr 3 kills units: the comparison is not of zeros


def test_drafted_runs_refine_one_run_at_a_time_so_that_a_left_refinement_stops_between_runs(digits):
    from gradviz.train import DraftedRuns, RunCache

    class Runs(DraftedRuns):
        run_cache = RunCache(steps=20, data=digits)

        def configs(self, values):
            return [dict(activation="relu", seed=values["seed"]), dict(activation="leaky_relu", seed=values["seed"])]

    refinement = Runs().refine({"seed": 1})
    (first,) = next(refinement)  # a learner who left now stops the refinement here: one run trained, not two
    assert first.history.config["steps"] == 20 and not Runs.run_cache.has(Runs().configs({"seed": 1}))
    last = list(refinement)[-1]
    assert last[0] is first and len(last) == 2 and last[1].history.config["steps"] == 20


def test_the_accuracy_of_a_diverged_run_counts_overflowed_outputs_as_wrong():
    """07 (experiments 6 and 7) explains why a diverged run can score below chance: its accuracy is measured with
    the weights of the step where the overflow appeared, and an example whose outputs overflowed counts as wrong,
    even where the class it would otherwise be given is the right one."""
    from gradviz.losses import softmax_cross_entropy
    from gradviz.train import _evaluate

    net = MLP(2, hidden=(2,), activation="relu", n_outputs=2, seed=0)
    net.blocks[0].dense.params["W"][...] = np.eye(2)
    net.blocks[0].dense.params["b"][...] = 0.0
    net.output.params["W"][...] = 10 * np.eye(2)
    net.output.params["b"][...] = 0.0
    X = np.array([[1.0, 0.0], [1e308, 0.0]])  # the second example's logits overflow to inf
    y = np.array([0, 0])  # ... and class 0 is what it would be given once its logits are set aside
    loss, accuracy = _evaluate(net, X, y, softmax_cross_entropy)
    assert np.isnan(loss) and accuracy == 0.5
