"""Chapter 06 (batch normalization): every number the chapter states, its package functions and its explorer.

The functions below compute what notebooks/06_batch_normalization.ipynb prints; these tests pin them to
hand-computed values, to independent numpy computations and to the claims the chapter's prose makes.
"""

import pathlib

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

import gradviz as gv
from gradviz.chapters import ch06_batch_norm as ch
from gradviz.layers import BatchNorm
from gradviz.network import MLP, BatchNormOptions

from frontend import blits_as_full_draws, learner_sets, settled
from gradcheck import check_network

#: The chapter's tiny batch: 4 examples x 3 features.
X = np.array([[1.0, 100.0, 0.50],
              [2.0, 140.0, -0.50],
              [3.0, 120.0, 0.25],
              [6.0, 160.0, -0.25]])


# ----------------------------------------------------------------------------- the algorithm step by step
def test_batch_norm_steps_hand_computed():
    s = ch.batch_norm_steps(X)
    np.testing.assert_allclose(s.mean, [3.0, 130.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(s.var, [3.5, 500.0, 0.15625], rtol=1e-15)
    # x_hat by hand for the first column: (1 - 3) / sqrt(3.5 + 1e-3) etc.
    np.testing.assert_allclose(s.x_hat[:, 0], np.array([-2.0, -1.0, 0.0, 3.0]) / np.sqrt(3.501), rtol=1e-14)
    np.testing.assert_allclose(s.x_hat[:, 2], np.array([0.5, -0.5, 0.25, -0.25]) / np.sqrt(0.15725), rtol=1e-14)
    np.testing.assert_array_equal(s.y, s.x_hat)  # gamma 1, beta 0
    assert s.max_difference <= 1e-15
    # "now, at +-1.26, they are comparable to the extremes of the other columns (+-1.34 in the second, up to
    # 1.60 in the first)"
    assert [round(float(v), 2) for v in s.x_hat[:2, 2]] == [1.26, -1.26]
    assert round(float(np.abs(s.x_hat[:, 1]).max()), 2) == 1.34 and round(float(s.x_hat[:, 0].max()), 2) == 1.60
    # the promises of step 3: mean 0, variance var / (var + eps)
    np.testing.assert_allclose(s.x_hat.mean(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(s.x_hat.var(axis=0), s.var / (s.var + 1e-3), rtol=1e-13)
    assert s.x_hat.var(axis=0)[2] == pytest.approx(0.99364, abs=1e-5)  # visibly below 1


def test_batch_norm_steps_gamma_beta_undo_and_match_the_layer():
    s = ch.batch_norm_steps(X)
    undo = ch.batch_norm_steps(X, gamma=np.sqrt(s.var + s.eps), beta=s.mean)
    np.testing.assert_allclose(undo.y, X, rtol=1e-14, atol=1e-13)
    assert undo.max_difference < 1e-12
    g, b = np.array([0.5, 2.0, -1.0]), np.array([1.0, -2.0, 0.3])
    s2 = ch.batch_norm_steps(X, gamma=g, beta=b, eps=1e-5)
    layer = BatchNorm(3, eps=1e-5)
    layer.params["gamma"][:], layer.params["beta"][:] = g, b
    np.testing.assert_allclose(s2.y, layer.forward(X, training=True), rtol=1e-13)
    np.testing.assert_allclose(s2.y, g * s2.x_hat + b, rtol=1e-15)


def test_batch_norm_steps_errors():
    with pytest.raises(ValueError, match="at least 2"):
        ch.batch_norm_steps(X[:1])
    with pytest.raises(ValueError, match="gamma must have shape"):
        ch.batch_norm_steps(X, gamma=[1.0, 2.0])
    with pytest.raises(ValueError, match="beta must have shape"):
        ch.batch_norm_steps(X, beta=np.zeros(4))


def test_two_copies_give_beta_whatever_the_input():
    for row in X:
        c = ch.batch_norm_steps(np.repeat(row[None], 2, axis=0), gamma=[1.0, 2.0, 3.0], beta=[0.1, 0.2, 0.3])
        np.testing.assert_array_equal(c.var, 0.0)
        np.testing.assert_array_equal(c.x_hat, 0.0)
        np.testing.assert_array_equal(c.y, [[0.1, 0.2, 0.3]] * 2)


def test_one_example_in_training_mode_raises_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 examples.*variance is 0"):
        BatchNorm(3).forward(X[:1], training=True)


# ----------------------------------------------------------------------------- four vectors per layer
def test_parameter_counts_of_layers_and_networks():
    assert ch.parameter_counts(BatchNorm(3)) == {"trainable": 6, "non_trainable": 6}
    assert ch.parameter_counts(BatchNorm(64)) == {"trainable": 128, "non_trainable": 128}
    assert ch.parameter_counts(gv.layers.Dense(4, 5)) == {"trainable": 25, "non_trainable": 0}
    net = ch.bn_network(batch_norm=True)
    plain = ch.bn_network(batch_norm=False)
    assert ch.parameter_counts(net)["non_trainable"] == 6 * 2 * 32 == 384
    assert ch.parameter_counts(plain)["non_trainable"] == 0
    assert ch.parameter_counts(net)["trainable"] - ch.parameter_counts(plain)["trainable"] == 384
    with pytest.raises(TypeError, match="layer or a network"):
        ch.parameter_counts(object())


def test_one_training_pass_moves_the_state_not_the_params():
    layer = BatchNorm(3)
    layer.forward(X, training=True)
    np.testing.assert_array_equal(layer.params["gamma"], 1.0)
    np.testing.assert_array_equal(layer.params["beta"], 0.0)
    np.testing.assert_allclose(layer.state["running_mean"], 0.01 * np.array([3.0, 130.0, 0.0]), rtol=1e-14)
    np.testing.assert_allclose(layer.state["running_var"], 0.99 + 0.01 * np.array([3.5, 500.0, 0.15625]), rtol=1e-14)


# ----------------------------------------------------------------------------- moving averages and momentum
def test_from_pytorch_same_running_mean_and_unbiased_running_var():
    # The notebook's cell of section 4: five batches of 32 into both conventions.
    keras, torch = BatchNorm(3, momentum=0.9), BatchNorm.from_pytorch(3, momentum=0.1)
    assert keras.momentum == torch.momentum == 0.9
    assert not keras.unbiased_running_var and torch.unbiased_running_var
    rng = np.random.default_rng(0)
    for _ in range(5):
        b = 5.0 + 2.0 * rng.standard_normal((32, 3))
        keras.forward(b, training=True)
        torch.forward(b, training=True)
    np.testing.assert_array_equal(keras.state["running_mean"], torch.state["running_mean"])
    assert np.all(keras.state["running_mean"] < 2.5)  # "still far below the true mean 5"
    start = 0.9 ** 5
    ratio = (torch.state["running_var"] - start) / (keras.state["running_var"] - start)
    np.testing.assert_allclose(ratio, 32 / 31, rtol=1e-12)  # "exactly 32/31 = 1.032"
    assert round(32 / 31, 3) == 1.032
    # "with batches of 4, by a third": the cumulative average of one batch is its (unbiased) variance
    one = BatchNorm.from_pytorch(1, momentum=None)
    b4 = np.array([[0.0], [1.0], [2.0], [5.0]])
    one.forward(b4, training=True)
    assert one.state["running_var"][0] == pytest.approx(b4.var() * 4 / 3, rel=1e-14, abs=0)


def test_running_means_hand_computed_and_both_conventions():
    np.testing.assert_allclose(ch.experiments.running_means([10, 20], 0.9), [0.0, 1.0, 2.9], rtol=1e-14)
    np.testing.assert_allclose(ch.experiments.running_means([4, 6], 0.9), [0.0, 0.4, 0.96], rtol=1e-14)
    means = [3.0, -1.0, 7.5, 2.0]
    np.testing.assert_allclose(ch.experiments.running_means(means, 0.99),
                               ch.experiments.running_means(means, 0.01, pytorch=True), rtol=1e-12)
    # momentum 0 keeps only the last batch
    np.testing.assert_allclose(ch.experiments.running_means(means, 0.0)[1:], means)


def test_remaining_fraction_and_steps_to_forget():
    assert ch.remaining_fraction(0.99, 100) == pytest.approx(0.366032, rel=1e-5)
    assert ch.remaining_fraction(0.9, 100) == pytest.approx(2.656e-5, rel=1e-3)
    assert ch.remaining_fraction(0.5, 0) == 1.0
    assert ch.steps_to_forget(0.99, 0.01) == 459
    assert ch.steps_to_forget(0.9, 0.01) == 44
    assert ch.steps_to_forget(0.99, 0.05) == 299
    for m in (0.5, 0.9, 0.99, 0.999):
        for f in (0.5, 0.01, 1e-3):
            t = ch.steps_to_forget(m, f)
            assert m ** t <= f < m ** (t - 1) if t > 0 else m ** t <= f
    assert ch.steps_to_forget(0.0, 0.01) == 1
    assert ch.steps_to_forget(0.9, 1.0) == 0
    with pytest.raises(ValueError, match="momentum"):
        ch.steps_to_forget(1.0)
    with pytest.raises(ValueError, match="fraction"):
        ch.steps_to_forget(0.9, 0.0)


def test_momentum_conversions():
    assert ch.pytorch_momentum(0.99) == pytest.approx(0.01, rel=1e-12, abs=0)
    assert ch.pytorch_momentum(0.9) == pytest.approx(0.1, rel=1e-12, abs=0)
    assert ch.experiments.keras_momentum(0.1) == 0.9
    assert ch.experiments.keras_momentum(1.0) == 0.0
    with pytest.raises(ValueError, match="keras_momentum"):
        ch.pytorch_momentum(1.0)
    with pytest.raises(ValueError, match="pytorch_momentum"):
        ch.experiments.keras_momentum(0.0)


def test_moving_average_run_follows_the_recursion():
    r = ch.experiments.moving_average_run(0.95, steps=50, true_mean=3.0, true_std=2.0, batch_size=16, seed=1)
    assert r.step.shape == (51,) and r.batch_mean.shape == (50,)
    rm, rv = [0.0], [1.0]
    for bm, bv in zip(r.batch_mean, r.batch_var):
        rm.append(0.95 * rm[-1] + 0.05 * bm)
        rv.append(0.95 * rv[-1] + 0.05 * bv)
    np.testing.assert_allclose(r.running_mean, rm, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(r.running_var, rv, rtol=1e-12)
    np.testing.assert_allclose(r.remaining, 0.95 ** np.arange(51), rtol=1e-14)
    assert r.pytorch_momentum == pytest.approx(0.05)
    # same seed, same batches for every momentum
    r2 = ch.experiments.moving_average_run(0.5, steps=50, batch_size=16, seed=1)
    np.testing.assert_array_equal(r.batch_mean, r2.batch_mean)


def test_moving_average_run_chapter_numbers():
    slow, fast = ch.experiments.moving_average_run(0.99, 200), ch.experiments.moving_average_run(0.9, 200)
    # the figure's claim: with 0.99 the running mean is far below the batch means at step 100, short at 200
    assert slow.running_mean[100] < 0.7 * 3.0
    assert slow.running_mean[200] < 0.92 * 3.0
    assert abs(fast.running_mean[100] - 3.0) < 0.3
    with pytest.raises(ValueError, match="batch_size"):
        ch.experiments.moving_average_run(0.9, 10, batch_size=1)
    with pytest.raises(ValueError, match="momentum"):
        ch.experiments.moving_average_run(1.5)
    with pytest.raises(ValueError, match="true_std"):
        ch.experiments.moving_average_run(0.9, true_std=0.0)


# ----------------------------------------------------------------------------- the backward pass
def _folded_backward(dy, x, gamma, eps=1e-3):
    """The notebook's section-2 backward pass (the folded formula), written again independently here."""
    m = x.shape[0]
    inv_std = 1.0 / np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) * inv_std
    dx_hat = dy * gamma
    dx = inv_std / m * (m * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0))
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)


def _forgetful_backward(dy, x, gamma, eps=1e-3):
    """Leaves out how x moves the batch variance: the broken backward the notebook suggests trying."""
    dx, dgamma, dbeta = _folded_backward(dy, x, gamma, eps)
    inv_std = 1.0 / np.sqrt(x.var(axis=0) + eps)
    dx_hat = dy * gamma
    return inv_std * (dx_hat - dx_hat.mean(axis=0)), dgamma, dbeta


def test_gradient_check_passes_correct_backward_passes_to_about_1e_8():
    for backward in (_folded_backward, ch.exercises.bn_backward_steps):
        for batch, features, seed in ((8, 3, 0), (3, 1, 5), (32, 6, 7)):
            r = ch.gradient_check(backward, batch=batch, features=features, seed=seed)
            assert r.passed and not r.problem and r.shape == (batch, features)
            assert set(r.errors) == {"dx", "dgamma", "dbeta"}
            assert max(r.errors.values()) < 1e-7  # "to about 1e-8, far below the 1e-6 the check accepts"
    # the reference answer and the folded formula are the same function, to rounding
    rng = np.random.default_rng(3)
    x, dy, gamma = rng.normal(1, 2, (6, 4)), rng.standard_normal((6, 4)), rng.uniform(0.5, 2, 4)
    for a, b in zip(ch.exercises.bn_backward_steps(dy, x, gamma), _folded_backward(dy, x, gamma)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # ... and the layer's backward
    layer = BatchNorm(4)
    layer.params["gamma"][:] = gamma
    layer.forward(x, training=True)
    np.testing.assert_allclose(layer.backward(dy), ch.exercises.bn_backward_steps(dy, x, gamma)[0], rtol=1e-10,
                               atol=1e-12)
    summary = ch.gradient_check(_folded_backward).summary()
    assert summary.count("agrees with finite differences (entry-wise relative error below 1e-06)") == 3


def test_the_gradient_check_errors_the_notebook_prints():
    """Section 2: 'agrees ... to about 1e-8 or better' (measured dx 8.9e-9, dgamma 1.1e-9, dbeta 3.9e-10)."""
    errors = ch.gradient_check(_folded_backward).errors
    assert 1e-11 < errors["dx"] < 5e-8 and max(errors.values()) == errors["dx"]
    assert all(e < 5e-8 for e in errors.values())


def test_gradient_check_catches_wrong_backward_passes():
    r = ch.gradient_check(_forgetful_backward)
    assert not r.passed and r.errors["dx"] > 0.1 and r.errors["dgamma"] < 1e-7
    assert "dx      DIFFERS from finite differences" in r.summary()
    # with dy all ones the forgetful dx is 0, like the true one: a sum(y) check could not tell them apart
    x = np.random.default_rng(0).normal(2, 3, (8, 3))
    np.testing.assert_allclose(_forgetful_backward(np.ones_like(x), x, np.array([1.0, 2.0, -0.5]))[0], 0.0,
                               atol=1e-12)
    swapped = ch.gradient_check(lambda dy, x, g, eps: (_folded_backward(dy, x, g, eps)[0],) + _folded_backward(
        dy, x, g, eps)[:0:-1])
    assert not swapped.passed and swapped.errors["dx"] < 1e-7 and swapped.errors["dgamma"] > 0.1


@pytest.mark.parametrize("backward, problem", [
    (lambda dy, x, g, eps: 1 / 0, "raised ZeroDivisionError"),
    (lambda dy, x, g, eps: (dy, g), "three arrays"),
    (lambda dy, x, g, eps: 3, "three arrays, (dx, dgamma, dbeta); got int"),
    (lambda dy, x, g, eps: (dy.T, g, g), "dx must have shape (8, 3)"),
    (lambda dy, x, g, eps: (dy, g[:2], g), "dgamma must have shape (3,)"),
    (lambda dy, x, g, eps: (dy * np.inf, g, g), "dx holds non-finite"),
    (lambda dy, x, g, eps: (dy, g, "abc"), "dbeta must be an array of numbers"),
])
def test_gradient_check_reports_what_is_wrong(backward, problem):
    r = ch.gradient_check(backward)
    assert not r.passed and problem in r.problem and r.summary() == r.problem


def test_gradient_check_errors():
    with pytest.raises(TypeError, match="backward must be a function"):
        ch.gradient_check(None)
    with pytest.raises(ValueError, match="batch must be >= 3"):
        ch.gradient_check(_folded_backward, batch=2)
    with pytest.raises(ValueError, match="tol"):
        ch.gradient_check(_folded_backward, tol=0.0)


def test_exercise_06_4_checks_code_by_finite_differences(capsys):
    ex = gv.exercises.EXERCISES["06.4"]
    assert ex.wants_code and ex.checker is not None
    assert gv.exercises.check("06.4", ch.exercises.bn_backward_steps)
    assert gv.exercises.check("06.4", _folded_backward)
    assert not gv.exercises.check("06.4", _forgetful_backward)
    assert not gv.exercises.check("06.4", None)
    assert not gv.exercises.check("06.4", 0.5)

    def skeleton(dy, x, gamma, eps=1e-3):  # the notebook's unfinished cell returns Nones
        return None, None, None

    assert not gv.exercises.check("06.4", skeleton)

    def eps_ignored(dy, x, gamma, eps=1e-3):  # the cold read: hard-codes the default eps
        return _folded_backward(dy, x, gamma, 1e-3)

    assert not gv.exercises.check("06.4", eps_ignored)
    assert {c[3] for c in ch.exercises.BACKWARD_CHECKS} == {1e-3, 0.1}
    out = capsys.readouterr().out
    assert "with eps = 0.1, dx and dgamma do not agree" in out
    assert out.count("Exercise 06.4: correct.") == 2
    assert "on a batch of 8 x 3 with eps = 0.001, dx does not agree with finite differences" in out
    assert "not answered yet" in out and "wants a function" in out and "dx must have shape" in out


# ----------------------------------------------------------------------------- modes, single examples
def test_kept_moving_statistics_restores_state():
    net = ch.bn_network(batch_norm=True)
    before = [{k: v.copy() for k, v in ly.state.items()} for ly in net.layers]
    with ch.experiments.kept_moving_statistics(net):
        net.forward(np.random.default_rng(0).standard_normal((8, 64)), training=True)
        assert any(not np.array_equal(ly.state["running_mean"], b["running_mean"])
                   for ly, b in zip(net.layers, before) if ly.state)
    for ly, b in zip(net.layers, before):
        for k in b:
            np.testing.assert_array_equal(ly.state[k], b[k])


@pytest.fixture(scope="module")
def trained():
    """The chapter's networks of section 4 and 5 (bn_run is cached: one training each per session)."""
    return {m: ch.bn_run(batch_norm=True, momentum=m) for m in (0.9, 0.99)} | {
        "plain": ch.bn_run(batch_norm=False)}


def test_deep_sigmoid_net_trains_only_with_batch_norm(trained):
    plain, with_bn = trained["plain"][1], trained[0.9][1]
    assert plain.test_accuracy[-1] < 0.15 and not plain.diverged
    assert with_bn.test_accuracy[-1] > 0.85
    g_plain, g_bn = plain.grad_norm[0], with_bn.grad_norm[0]
    assert 5e-4 < g_plain[0] / g_plain[-1] < 2e-3  # "about a thousand times smaller"
    assert 0.3 < g_bn[0] / g_bn[-1] < 3.0  # about the same size in every layer
    assert np.log(10) * 0.95 < np.mean(plain.loss[-20:]) < np.log(10) * 1.05  # stays at ln 10


def test_momentum_changes_only_the_moving_averages(trained):
    (n9, h9), (n99, h99) = trained[0.9], trained[0.99]
    for a, b in zip(n9.layers, n99.layers):
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k])
    np.testing.assert_array_equal(h9.loss, h99.loss)
    data = gv.data.load_digits()
    a9 = ch.accuracy_by_mode(n9, data.X_test, data.y_test, batch_size=32)
    a99 = ch.accuracy_by_mode(n99, data.X_test, data.y_test, batch_size=32)
    assert a9.batch_statistics == a99.batch_statistics > 0.85
    assert a9.inference == pytest.approx(h9.test_accuracy[-1])
    assert a99.inference < 0.2 < 0.85 < a9.inference
    # 37% of the initial running statistics remain in the 0.99 run
    bn99 = [ly for ly in n99.layers if isinstance(ly, BatchNorm)][0]
    assert ch.remaining_fraction(0.99, h99.steps_run) == pytest.approx(0.366, abs=1e-3)
    assert bn99.momentum == 0.99


def test_accuracy_by_mode_leaves_state_and_merges_a_last_batch_of_one(trained):
    net = trained[0.9][0]
    data = gv.data.load_digits()
    X, y = data.X_test[:65], data.y_test[:65]
    before = [ly.state["running_mean"].copy() for ly in net.layers if ly.state]
    acc = ch.accuracy_by_mode(net, X, y, batch_size=32)  # batches 32, 33 (the last 1 joins)
    after = [ly.state["running_mean"] for ly in net.layers if ly.state]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert acc.inference == np.mean(net.predict(X) == y)
    with ch.experiments.kept_moving_statistics(net):
        manual = np.concatenate([np.argmax(net.forward(X[:32], training=True), 1),
                                 np.argmax(net.forward(X[32:], training=True), 1)])
    assert acc.batch_statistics == np.mean(manual == y)
    whole = ch.accuracy_by_mode(net, X, y)
    assert whole.batch_size == 65
    with pytest.raises(ValueError, match="batch_size"):
        ch.accuracy_by_mode(net, X, y, batch_size=1)
    with pytest.raises(ValueError, match="y must have shape"):
        ch.accuracy_by_mode(net, X, y[:3])


def test_single_example_predictions_do_not_depend_on_the_input(trained):
    net = trained[0.9][0]
    data = gv.data.load_digits()
    before = [ly.state["running_var"].copy() for ly in net.layers if ly.state]
    one = ch.single_example_predictions(net, data.X_test[:12], data.y_test[:12])
    assert one.logit_spread == 0.0
    assert len(set(one.own_statistics.tolist())) == 1
    np.testing.assert_array_equal(one.inference, net.predict(data.X_test[:12]))
    assert np.mean(one.inference == one.labels) >= 0.75
    for b, ly in zip(before, [ly for ly in net.layers if ly.state]):
        np.testing.assert_array_equal(ly.state["running_var"], b)
    # every batch-norm layer sees identical rows and outputs its beta, so the logits are those of the
    # output layer applied to sigmoid(beta) of the last hidden layer
    last_beta = net.blocks[-1].bn_before.params["beta"]
    expected = net.output.forward(gv.activations.sigmoid(last_beta)[None])[0]
    np.testing.assert_allclose(one.own_statistics_logits[0], expected, rtol=1e-12, atol=1e-12)


def test_batch_spread_shrinks_without_and_stays_with_batch_norm():
    batch = gv.data.load_digits().X_train[:32]
    plain = ch.batch_spread(ch.bn_network(batch_norm=False), batch)
    with_bn = ch.batch_spread(ch.bn_network(batch_norm=True), batch)
    assert plain[0] == with_bn[0]  # same first layer, same input
    factors = plain[:-1] / plain[1:]
    assert np.all(factors > 4.0) and plain[-1] < 1e-3
    assert np.all(np.abs(with_bn[1:] / with_bn[1] - 1) < 0.15)
    # by hand for layer 1: std over the batch of each unit of x W + b, averaged
    net = ch.bn_network(batch_norm=False)
    z = batch @ net.blocks[0].dense.params["W"] + net.blocks[0].dense.params["b"]
    assert plain[0] == pytest.approx(z.std(axis=0).mean(), rel=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        ch.batch_spread(net, batch[:1])


# ----------------------------------------------------------------------------- the chapter's network
def test_bn_network_scales_only_the_hidden_layers():
    ref = MLP(64, depth=6, width=32, activation="sigmoid", init="glorot_uniform", n_outputs=10, seed=0)
    for s in (0.1, 1.0, 10.0):
        net = ch.bn_network(batch_norm=False, weight_scale=s)
        for b, rb in zip(net.blocks, ref.blocks):
            np.testing.assert_allclose(b.dense.params["W"], s * rb.dense.params["W"], rtol=1e-12)
        np.testing.assert_array_equal(net.output.params["W"], ref.output.params["W"])
    bn = ch.bn_network(batch_norm=True, momentum=0.8)
    assert all(b.bn_before is not None and b.bn_before.momentum == 0.8 for b in bn.blocks)
    with pytest.raises(ValueError, match="weight_scale"):
        ch.bn_network(weight_scale=0.0)


def test_scale_invariance_of_the_forward_pass():
    digits = gv.data.load_digits().X_test[:256]
    out = {(bn, a): ch.bn_network(batch_norm=bn, weight_scale=a, activation="relu").forward(digits, training=True)
           for bn in (False, True) for a in (1.0, 10.0)}
    # without batch norm ReLU passes the scale through: six layers x10 make the logits a million times larger
    np.testing.assert_allclose(out[(False, 10.0)], 1e6 * out[(False, 1.0)], rtol=1e-9, atol=1e-9)
    # with batch norm almost nothing changes (eps does not scale)
    assert np.abs(out[(True, 10.0)] - out[(True, 1.0)]).max() < 0.02
    # the sigmoid net too
    a = ch.bn_network(batch_norm=True, weight_scale=1.0).forward(digits, training=True)
    b = ch.bn_network(batch_norm=True, weight_scale=10.0).forward(digits, training=True)
    assert np.abs(a - b).max() < 0.05


def test_bn_network_relu_baseline():
    net = ch.bn_network(batch_norm=False, activation="relu")
    ref = MLP(64, depth=6, width=32, activation="relu", init="he_normal", n_outputs=10, seed=0)
    for blk, rb in zip(net.blocks, ref.blocks):
        np.testing.assert_array_equal(blk.dense.params["W"], rb.dense.params["W"])
    np.testing.assert_array_equal(net.output.params["W"], ref.output.params["W"])
    with pytest.raises(ValueError, match="activation"):
        ch.bn_network(activation="tanh")
    with pytest.raises(ValueError, match="activation"):
        ch.bn_run(activation="elu")


def test_bn_run_is_cached_and_validates():
    a = ch.bn_run(True, 1.0)
    b = ch.bn_run(batch_norm=True, weight_scale=1, lr=0.5, momentum=0.9, steps=100, batch_size=32)
    assert a is b
    assert list(a[1].record_steps) == [0, 100]
    with pytest.raises(ValueError, match="lr"):
        ch.bn_run(True, lr=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        ch.bn_run(True, momentum=1.5)


@pytest.fixture(scope="module")
def sweeps():
    return ch.scale_sweep(), ch.lr_sweep()


def _assert_verdicts_have_margin(sweep, margin=0.04):
    """Each verdict the chapter prints stays the same if any run's accuracy moves by less than ``margin``."""
    for i in range(2):
        for k, verdict in enumerate(sweep.verdicts()[i]):
            acc, div = sweep.accuracy[i, :, k], sweep.diverged[i, :, k]
            if verdict == "learns":
                assert acc.min() >= ch.experiments.LEARNS + margin and not div.any()
            elif verdict == "fails":
                assert div.all() or acc[~div].max() <= ch.experiments.FAILS - margin
            else:  # partial: one seed far above the fail line and one far below the learn line
                assert acc.max() >= ch.experiments.FAILS + margin and acc.min() <= ch.experiments.LEARNS - margin


def test_sweeps_verdicts_the_chapter_states(sweeps):
    scales, rates = sweeps
    assert scales.accuracy.shape == (2, 1, 5) and rates.accuracy.shape == (2, 3, 5)
    np.testing.assert_array_equal(scales.values, [0.1, 0.3, 1.0, 3.0, 10.0])
    np.testing.assert_array_equal(rates.values, [0.1, 0.3, 1.0, 3.0, 10.0])
    assert scales.fixed == {"lr": 0.3} and rates.fixed == {"weight_scale": 1.0}
    # without batch norm the baseline learns only at its own init scale; with it, at every scale up to 3
    assert list(scales.verdicts()[0]) == ["fails", "fails", "learns", "fails", "fails"]
    assert list(scales.verdicts()[1]) == ["learns", "learns", "learns", "learns", "partial"]
    assert scales.accuracy[0, 0, :2].max() < 0.15  # small scales: chance (10%)
    assert scales.diverged[0, 0, 3:].all()  # large scales: the loss overflows (the crosses below 0)
    assert scales.accuracy[1, 0, 4] > ch.experiments.FAILS  # scale 10 with batch norm: on its way
    # learning rates: the largest that learns rises from 0.3 to 1; 10 fails for both
    assert list(rates.verdicts()[0]) == ["learns", "learns", "fails", "fails", "fails"]
    assert list(rates.verdicts()[1]) == ["learns", "learns", "learns", "partial", "fails"]
    assert rates.largest_learning() == {False: 0.3, True: 1.0}
    assert (rates.accuracy[1, :, 3] >= ch.experiments.LEARNS).sum() == 1  # "one seed of three does at 3"
    assert len(rates.seeds) == 3 and not rates.diverged[1, :, 3].any()
    _assert_verdicts_have_margin(scales)
    _assert_verdicts_have_margin(rates)
    # the runs are bn_run's (cached), and the two sweeps share the setting (scale 1, lr 0.3, seed 0)
    assert scales.histories[(True, 0, 1.0)] is rates.histories[(True, 0, 0.3)]
    assert scales.histories[(False, 0, 1.0)] is ch.bn_run(False, 1.0, 0.3, activation="relu")[1]
    t = rates.verdict_table()
    assert t.splitlines()[0].split()[:2] == ["learning", "rate"] and t.count("partial") == 1
    assert t.splitlines()[0].endswith("(3 seeds)") and scales.verdict_table().splitlines()[0].endswith("(1 seed)")
    assert "seed 2" in rates.table() and "div" in rates.table()


def test_scale_verdicts_hold_for_seeds_1_and_2():
    """Section 8: 'One seed; with seeds 1 and 2 the tests of this package find the same verdicts' (measured: with
    BN 84-93 % at scale 3, 63-67 % at scale 10; without BN 85-87 % at scale 1)."""
    other = ch.scale_sweep(seeds=(1, 2))
    assert list(other.verdicts()[0]) == ["fails", "fails", "learns", "fails", "fails"]
    assert list(other.verdicts()[1]) == ["learns", "learns", "learns", "learns", "partial"]


def test_the_sigmoid_net_hardly_learns_without_batch_norm():
    """Section 8: 'At its own weight scale it stays at chance, 10 %, at every learning rate tried; its best, with
    three times larger weights and lr 2, is just over 20 %, against 90 % with batch norm' (measured 9.8 % x 3, 21.8 %;
    21.8 % at seed 0 with OpenBLAS's own kernel, Sandybridge, Haswell with 2 threads and 1 thread; seeds 1 and 2 give
    10.2 % and 19.1 %, but the notebook runs seed 0)."""
    acc = {}
    for scale, lr in ((1.0, 0.5), (1.0, 2.0), (1.0, 10.0), (3.0, 2.0)):
        h = ch.bn_run(batch_norm=False, weight_scale=scale, lr=lr)[1]
        acc[(scale, lr)] = 0.0 if h.diverged else h.test_accuracy[-1]
    assert all(a < 0.12 for k, a in acc.items() if k[0] == 1.0)
    assert 0.2 < acc[(3.0, 2.0)] < 0.25  # "just over 20 %"
    assert ch.bn_run(batch_norm=True)[1].test_accuracy[-1] > 0.85


def test_sweep_gradients_shrink_like_one_over_the_scale(sweeps):
    scales, _ = sweeps
    g1 = scales.histories[(True, 0, 1.0)].grad_norm[0]
    g10 = scales.histories[(True, 0, 10.0)].grad_norm[0]
    np.testing.assert_allclose(g1 / g10, 10.0, rtol=0.03)  # "about ten times smaller"
    assert np.all(g1 / g10 < 10.0)  # eps: a little less than ten


def test_sweep_errors_and_progress_bar(sweeps):
    again = ch.lr_sweep(lrs=(0.3,), seeds=(0,), progress=True)
    assert again.histories[(False, 0, 0.3)] is sweeps[1].histories[(False, 0, 0.3)]
    assert again.largest_learning() == {False: 0.3, True: 0.3}
    with pytest.raises(ValueError, match="lrs"):
        ch.lr_sweep(lrs=(0.0,))
    with pytest.raises(ValueError, match="weight_scales"):
        ch.scale_sweep(scales=(-1.0,))
    with pytest.raises(ValueError, match="at least one value"):
        ch.lr_sweep(lrs=())
    with pytest.raises(ValueError, match="seeds"):
        ch.lr_sweep(seeds=(-1,))
    with pytest.raises(ValueError, match="activation"):
        ch.lr_sweep(activation="tanh")


# ----------------------------------------------------------------------------- raw pixels, batch norm first
def test_load_digits_raw_is_the_same_split_unstandardised():
    raw, std = gv.data.load_digits_raw(seed=3), gv.data.load_digits(seed=3)
    np.testing.assert_allclose((raw.X_train - std.mean) / std.std, std.X_train, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose((raw.X_test - std.mean) / std.std, std.X_test, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(raw.y_train, std.y_train)
    assert raw.X_train.min() == 0 and raw.X_train.max() == 16
    assert np.all(raw.X_train == np.round(raw.X_train))
    np.testing.assert_array_equal(raw.mean, 0.0)
    np.testing.assert_array_equal(raw.std, 1.0)
    assert int(np.sum(gv.data.load_digits_raw().X_train.std(axis=0) == 0)) == 3
    assert gv.data.load_digits_raw(dtype="float32").X_train.dtype == np.float32
    with pytest.raises(ValueError, match="test_size"):
        gv.data.load_digits_raw(test_size=1.0)
    with pytest.raises(ValueError, match="dtype"):
        gv.data.load_digits_raw(dtype="int32")


def test_input_batch_norm_mlp_forward_backward_and_layers():
    net = MLP(5, hidden=(4, 3), activation="tanh", n_outputs=2, seed=1,
              batch_norm=BatchNormOptions(hidden=None, inputs=True, momentum=0.8))
    assert net.layers[0] is net.input_bn and net.input_bn.momentum == 0.8
    assert ch.parameter_counts(net)["non_trainable"] == 10
    x = 3.0 + 4.0 * np.random.default_rng(0).standard_normal((7, 5))
    plain = MLP(5, hidden=(4, 3), activation="tanh", n_outputs=2, seed=1)
    with ch.experiments.kept_moving_statistics(net):
        xn = BatchNorm(5).forward(x, training=True)
        np.testing.assert_allclose(net.forward(x, training=True), plain.forward(xn), rtol=1e-12)
    errors = check_network(net, x, training=True)
    assert max(errors.values()) < 1e-6
    assert repr(net).startswith("MLP(BatchNorm(5) -> 5 -> [4, 3] -> 2")
    with pytest.raises(ValueError, match="at least 2 examples"):
        net.forward(x[:1], training=True)
    assert net.forward(x[:1]).shape == (1, 2)  # inference on one example is fine


def test_raw_input_runs_chapter_claims():
    runs = ch.raw_input_runs()
    assert list(runs) == ["standardized pixels", "raw pixels", "raw pixels, batch norm first"]
    acc = {k: h.test_accuracy[-1] for k, (_, h) in runs.items()}
    assert acc["raw pixels"] < 0.2
    assert acc["standardized pixels"] > 0.85 and acc["raw pixels, batch norm first"] > 0.85
    h_raw = runs["raw pixels"][1]
    assert 50 < h_raw.loss[:3].max() / np.log(10) < 150  # "within two steps ... about a hundred times"
    assert runs["standardized pixels"][1].loss[:5].max() < np.log(10) * 1.3
    assert h_raw.dead_fraction[-1, 0] > 0.9
    first = runs["raw pixels, batch norm first"][0].input_bn
    raw = gv.data.load_digits_raw()
    assert np.corrcoef(first.state["running_mean"], raw.X_train.mean(axis=0))[0, 1] > 0.999
    assert np.corrcoef(np.sqrt(first.state["running_var"]), raw.X_train.std(axis=0))[0, 1] > 0.999


# ----------------------------------------------------------------------------- exercises
def test_exercises_answers_and_checks(capsys):
    assert gv.exercises.EXERCISES["06.1"].answer() == pytest.approx(2.9, rel=1e-12)
    assert gv.exercises.EXERCISES["06.2"].answer() == pytest.approx(0.05, rel=1e-12, abs=0)
    assert gv.exercises.EXERCISES["06.3"].answer() == 384
    assert gv.exercises.check("06.1", 2.9) and gv.exercises.check("06.2", 0.05) and gv.exercises.check("06.3", 384)
    # Keras's own number, and the defaults section 4 converts in its text and printout (the cold read of session 8:
    # the exercise asked for the PyTorch momentum of 0.99, which cell 25 printed as 0.01)
    for wrong in (0.95, 0.01, 0.99, 0.1):
        assert not gv.exercises.check("06.2", wrong)
    notebook = (pathlib.Path(__file__).resolve().parents[1] / "notebooks" / "06_batch_normalization.ipynb").read_text()
    assert f"**06.2** A Keras model's `BatchNormalization` layers use `momentum={ch.exercises.KERAS_MOMENTUM_06_2:g}`" \
        in notebook
    assert not gv.exercises.check("06.3", 768)
    # the cold read: a count is exact, 2.95 is not 2.9, and a layer's running_mean (an array) is accepted
    for wrong in (380, 383, 385, 390, 391, 192):
        assert not gv.exercises.check("06.3", wrong)
    assert not gv.exercises.check("06.1", 2.95) and not gv.exercises.check("06.1", 3.0)
    assert not gv.exercises.check("06.1", 18.9)  # PyTorch's convention
    layer = BatchNorm(1, momentum=0.9)
    for mean in (10.0, 20.0):
        layer.forward(np.array([[mean - 1.0], [mean + 1.0]]), training=True)
    assert layer.state["running_mean"].shape == (1,) and gv.exercises.check("06.1", layer.state["running_mean"])
    assert gv.exercises.check("06.2", 1 - 0.95)
    for i in ("06.1", "06.2", "06.3", "06.4"):
        gv.exercises.solution(i)
    out = capsys.readouterr().out
    assert "2.9" in out and "1 - 0.95 = 0.05" in out and "384" in out and "def bn_backward_steps" in out


def test_the_code_the_momentum_exercises_show_runs_in_the_notebook(capsys):
    """06.1's hint and solution and 06.2's solution name code to run; as the notebook's `ch` it must run and give
    the answer (they once named ch.running_means, which the notebook's `ch` does not have: AttributeError)."""
    namespace = {"ch": ch, "np": np, "gv": gv}
    for k in ("06.1", "06.2"):
        gv.exercises.solution(k)
        code = capsys.readouterr().out.split("In code")[-1].split(":", 1)[1].strip()
        assert eval(code, namespace) == pytest.approx(gv.exercises.EXERCISES[k].answer(), rel=1e-12), k
    hint = gv.exercises.EXERCISES["06.1"].hint.split("Check with ")[1].rstrip(".")
    assert eval(hint, namespace)[-1] == pytest.approx(2.9, rel=1e-12)
    explained = gv.exercises.EXERCISES["06.2"].explain(0.05)
    keras_call, pytorch_call = (s.split(")")[0] + ")" for s in explained.split("ch.experiments.")[1:3])
    np.testing.assert_allclose(eval("ch.experiments." + keras_call, namespace),
                               eval("ch.experiments." + pytorch_call, namespace), rtol=1e-12)


# ----------------------------------------------------------------------------- plots, figures, explorer
def test_draw_moving_average_updates_in_place():
    from gradviz import plots

    fig, (a1, a2) = plots.new_figure(1, 2)
    r = ch.experiments.moving_average_run(0.9, 50)
    ch.figures.draw_moving_average(a1, a2, r, references={0.99: "Keras"})
    n_lines = len(a1.lines) + len(a2.lines)
    line = plots.find_artist(a1, "running_mean")
    np.testing.assert_array_equal(line.get_ydata(), r.running_mean)
    r2 = ch.experiments.moving_average_run(0.5, 80)
    ch.figures.draw_moving_average(a1, a2, r2, references={0.99: "Keras"})
    assert len(a1.lines) + len(a2.lines) == n_lines  # updated, not added
    np.testing.assert_array_equal(plots.find_artist(a1, "running_mean").get_ydata(), r2.running_mean)
    np.testing.assert_allclose(plots.find_artist(a2, "weight:0.99").get_ydata(), 0.99 ** np.arange(81))
    assert a1.get_xlim() == (0, 80)


def test_plot_sweep_and_figures(sweeps):
    from gradviz import figures, plots

    scales, rates = sweeps
    fig, ax = plots.new_figure(1, 1)
    ch.figures.plot_sweep(rates, ax=ax)
    # the line is the mean of the runs that did not diverge, broken where every seed diverged
    ok = ~rates.diverged
    expected = {bn: np.array([100 * rates.accuracy[bn, ok[bn, :, k], k].mean() if ok[bn, :, k].any() else np.nan
                              for k in range(len(rates.values))]) for bn in (0, 1)}
    np.testing.assert_allclose(plots.find_artist(ax, "mean:bn").get_ydata(), expected[1])
    np.testing.assert_allclose(plots.find_artist(ax, "mean:plain").get_ydata(), expected[0])
    assert not np.isnan(expected[0]).any() and not np.isnan(expected[1]).any()
    _, ax_scales = plots.new_figure(1, 1)
    ch.figures.plot_sweep(scales, ax=ax_scales)  # scales 3 and 10 without BN: every seed diverged, no line there
    assert list(np.isnan(plots.find_artist(ax_scales, "mean:plain").get_ydata())) == [False, False, False, True, True]
    np.testing.assert_allclose(plots.find_artist(ax, "mean:plain").get_xdata(), rates.values)
    # one cross per diverged run, below the 0 of the axis (no accuracy); one dot per other run
    assert len(plots.find_artist(ax, "diverged:plain").get_xdata()) == int(rates.diverged[0].sum()) > 0
    assert len(plots.find_artist(ax, "seeds:bn").get_xdata()) == int((~rates.diverged[1]).sum())
    np.testing.assert_array_equal(plots.find_artist(ax, "diverged:plain").get_ydata(), ch.figures.DIVERGED_Y)
    assert ax.get_ylim()[0] < ch.figures.DIVERGED_Y < 0
    # the "chance" and "learns" labels sit clear of every dot (at the left edge the weight-scale 0.1 dot covered one)
    for a in (ax, ax_scales):
        FigureCanvasAgg(a.figure).draw()  # laid out as in the notebook (a bare Figure draws nothing)
        for label in ("chance", "learns"):
            box = plots.find_artist(a, f"line:{label}").get_window_extent().expanded(1.0, 1.0).padded(4)
            dots = np.concatenate([a.transData.transform(np.column_stack(line.get_data()))
                                   for line in a.lines if str(line.get_gid()).startswith("seeds:")])
            assert not any(box.contains(x, y) for x, y in dots), label
            # ... and of the mean lines (the run without batch norm lay along 'chance' at weight scales 0.1-0.3)
            for line in (plots.find_artist(a, "mean:bn"), plots.find_artist(a, "mean:plain")):
                xy = np.column_stack(line.get_data())
                for p, q in zip(xy[:-1], xy[1:]):
                    if np.isfinite([p, q]).all():
                        t = np.linspace(0, 1, 200)
                        along = np.exp((1 - t) * np.log(p[0]) + t * np.log(q[0]))  # straight on the log x axis
                        pts = a.transData.transform(np.column_stack([along, (1 - t) * p[1] + t * q[1]]))
                        assert not any(box.contains(x, y) for x, y in pts), (label, line.get_gid())
    ch6 = [n for n, spec in figures.FIGURES.items() if spec.chapter == 6]
    assert set(ch6) == {"bn_moving_averages", "bn_deep_sigmoid_training", "bn_init_scale_and_lr_sweep",
                        "bn_raw_pixels"}
    f = ch.bn_init_scale_and_lr_sweep(scales, rates)
    assert len(f.axes) == 2 and len(f.legends) == 1
    assert f._suptitle.get_text().startswith("ReLU MLP, 6 hidden layers x 32 units, He init")
    # the legend's cross for a diverged run: one per version, in its colour, as the plot draws them (a cold reader
    # found one grey cross in the legend and only orange ones in the plot)
    FigureCanvasAgg(f).draw()
    legend = f.legends[0]
    entry = {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles)}
    assert list(entry) == ["with batch norm", "without batch norm", "diverged: no accuracy"]
    drawn = {mpl.colors.to_hex(ln.get_color()) for a in f.axes for ln in a.get_lines()
             if (ln.get_gid() or "").startswith("diverged:") and len(ln.get_xdata())}
    crosses = [c for c in legend.get_children()[0].findobj(mpl.lines.Line2D) if c.get_marker() == "x"]
    shown = {mpl.colors.to_hex(c.get_color()) for c in crosses}
    assert drawn and drawn <= shown == {mpl.colors.to_hex(c) for c in ch.figures.BN_COLORS.values()}
    f = ch.bn_deep_sigmoid_training()
    gids = [ln.get_gid() for ln in f.axes[1].lines]
    assert "grad:with batch norm" in gids and "grad:without batch norm" in gids
    f = ch.figures.bn_moving_averages()
    assert len(f.axes) == 2 and not any(ax.get_legend() for ax in f.axes)
    # one legend under both panels, clear of them (inside the left one it touched the 0.99 curve at steps 110-200)
    assert len(f.legends) == 1 and len(f.legends[0].get_texts()) == 4
    f.canvas.draw()
    box = f.legends[0].get_window_extent()
    assert all(box.y1 < ax.get_window_extent().y0 for ax in f.axes)
    f = ch.bn_raw_pixels()
    chance = [t for t in f.axes[1].texts if t.get_text().startswith("chance")]
    assert chance and chance[0].get_verticalalignment() == "top"  # below its line, clear of the raw-pixel run


@pytest.fixture
def explorer():
    return ch.MomentumExplorer(canvas="none")


@pytest.mark.parametrize("momentum", [0.99, 0.9, 0.5])
def test_momentum_explorer_shows_the_slider_curve_and_each_reference_at_their_own_momentum(explorer, momentum):
    """At the default 0.99 the 'Keras default' reference (grey, beneath) was hidden under the slider's curve: each
    of the slider's curve and the references must change pixels of the picture, whatever the momentum."""
    explorer.update(momentum=momentum)
    canvas = FigureCanvasAgg(explorer.figure)

    def pixels():
        canvas.draw()
        return np.asarray(canvas.buffer_rgba()).astype(int)

    both = pixels()
    for gid in ["weight"] + [f"weight:{m:g}" for m in explorer.references]:
        line = gv.plots.find_artist(explorer.ax_weight, gid)
        line.set_visible(False)
        changed = np.sum(np.abs(pixels() - both).max(axis=-1) > 40)  # clearly changed: not an anti-aliased edge
        line.set_visible(True)
        assert changed > 200, (gid, changed)  # a curve across the panel (hidden, the 0.99 reference changed 0)
    slider = gv.plots.find_artist(explorer.ax_weight, "weight")
    for m in explorer.references:
        ref = gv.plots.find_artist(explorer.ax_weight, f"weight:{m:g}")
        assert ref.get_zorder() > slider.get_zorder() and ref.get_linewidth() < slider.get_linewidth()
        assert ref.get_linestyle() != "-" and ref.get_color() != slider.get_color()


def test_momentum_explorer_links_the_two_conventions(explorer):
    assert explorer.values == {"momentum": 0.99, "pytorch_momentum": 0.01, "steps": 200, "batch_size": 32}
    explorer.controls["pytorch_momentum"].value = 0.1
    assert explorer.controls["momentum"].value == 0.9
    assert explorer.run.momentum == 0.9
    explorer.controls["momentum"].value = 0.75
    assert explorer.controls["pytorch_momentum"].value == 0.25
    assert explorer.run.momentum == 0.75
    explorer.controls["momentum"].value = 0.0
    assert explorer.controls["pytorch_momentum"].value == 1.0
    assert "Keras momentum 0.000 = PyTorch momentum 1.000" in explorer.summary()


def test_momentum_explorer_every_control_changes_the_figure(explorer):
    line = gv.plots.find_artist(explorer.ax_mean, "running_mean")
    before = line.get_ydata().copy()
    explorer.update(steps=500)
    assert len(line.get_xdata()) == 501 and explorer.ax_mean.get_xlim() == (0, 500)
    explorer.update(batch_size=4)
    assert explorer.run.batch_size == 4
    explorer.update(momentum=0.9)
    np.testing.assert_array_equal(line.get_ydata(), explorer.run.running_mean)
    assert not np.array_equal(line.get_ydata()[:201], before)
    w = gv.plots.find_artist(explorer.ax_weight, "weight")
    np.testing.assert_allclose(w.get_ydata()[:10], 0.9 ** np.arange(10))
    s = explorer.summary()
    assert "after 44 steps" in s and "batches of 4" in s
    # the run drawn is the package's, same seed
    ref = ch.experiments.moving_average_run(0.9, 500, 3.0, 2.0, 4, seed=0)
    np.testing.assert_array_equal(explorer.run.running_mean, ref.running_mean)
    explorer.redraw()
    explorer.figure.canvas.draw()


def test_momentum_explorer_readout_and_cache(explorer):
    assert "0.134" in explorer.summary()  # 0.99 ** 200
    assert "459 steps" in explorer.summary()
    first = explorer.run
    explorer.update(steps=300)
    explorer.update(steps=200)
    assert explorer.run is first
    assert "running_mean" in explorer.readout.value


# ----------------------------------------------------------------------------- noise of batch statistics
def test_batch_noise_spread_follows_one_over_sqrt_batch_size():
    n32 = ch.batch_noise(32)
    assert n32.batch_mean.shape == n32.x_hat.shape == (2000,)
    assert n32.feature == 36 and n32.example == 0
    X = gv.data.load_digits().X_train
    assert n32.value == X[0, 36] and n32.n_train == len(X)
    assert n32.population_mean == pytest.approx(0.0, abs=1e-12) and n32.population_std == pytest.approx(1.0)
    assert n32.population_x_hat == pytest.approx(n32.value / np.sqrt(1 + 1e-3))
    # "0.16 ... about 0.17": the batch means and the digit's normalized pixel spread alike
    assert 0.15 < n32.mean_spread < 0.19 and 0.15 < n32.x_hat_spread < 0.19
    for b in (4, 8, 32, 128, 256):
        n = ch.batch_noise(b)
        assert n.mean_spread == pytest.approx(n.predicted_mean_spread, rel=0.1)
    # section 6's table: at 2 only the second digit is random, so the mean varies by half the pixel's spread;
    # x_hat within 0.05 of +-1 in 87 % of the batches of 2
    n2 = ch.batch_noise(2)
    assert round(n2.mean_spread, 3) == 0.5 and round(n2.predicted_mean_spread, 3) == 0.5
    assert round(float(np.mean(np.abs(np.abs(n2.x_hat) - 1) < 0.05)), 2) == 0.87
    assert round(ch.batch_noise(32).mean_spread, 3) == 0.168 and round(ch.batch_noise(8).mean_spread, 3) == 0.327
    # "doubles each time the batch shrinks four-fold"
    for small, big in ((8, 32), (32, 128)):
        assert 1.8 < ch.batch_noise(small).mean_spread / ch.batch_noise(big).mean_spread < 2.2
    # x_hat by hand in one batch: the layer's training-mode normalization
    n4 = ch.batch_noise(4)
    np.testing.assert_allclose(n4.x_hat, (n4.value - n4.batch_mean) / np.sqrt(n4.batch_std ** 2 + 1e-3), rtol=1e-12)
    # "at a batch size of 2 ... close to +-1 whatever the pixel, or 0 when the two pixels are equal": each of
    # two numbers lies one standard deviation from their mean (eps pulls a small difference below 1)
    n2 = ch.batch_noise(2)
    vals = np.abs(n2.x_hat)
    assert np.all((vals < 1e-12) | ((vals > 0.9) & (vals <= 1.0)))
    assert np.mean(vals < 1e-12) < 0.05
    assert ch.batch_noise(32) is n32  # cached


def test_batch_noise_of_two_is_plus_minus_one_for_any_pixel_but_how_often_depends_on_the_pixel():
    """Section 6: 'within 0.05 of +-1 in 87 % of the batches, for this pixel of this digit. The mechanism holds for
    any pixel: x_hat = +-sigma_B / sqrt(sigma_B^2 + eps) ... How often that happens depends on the pixel, and so
    does the 87 %' (a cold reader measured 78 % for pixel 2, 6.5 % for the corner pixel 63, digit 0)."""
    share = {}
    for pixel in (36, 2, 63):
        n = ch.batch_noise(2, feature=pixel)
        np.testing.assert_allclose(np.abs(n.x_hat), n.batch_std / np.sqrt(n.batch_std ** 2 + 1e-3), rtol=1e-12)
        far = 2 * n.batch_std > 10 * np.sqrt(1e-3)  # the two values differ by much more than sqrt(eps)
        assert far.any() and np.all(np.abs(np.abs(n.x_hat[far]) - 1) < 0.05)
        share[pixel] = float(np.mean(np.abs(np.abs(n.x_hat) - 1) < 0.05))
    assert round(share[36], 2) == 0.87 and share[63] < 0.1 < 0.6 < share[2] < 0.85


def test_batch_noise_errors():
    with pytest.raises(ValueError, match="batch_size must lie in"):
        ch.batch_noise(1)
    with pytest.raises(ValueError, match="batch_size must lie in"):
        ch.batch_noise(10 ** 6)
    with pytest.raises(ValueError, match="n_batches"):
        ch.batch_noise(8, n_batches=1)
    with pytest.raises(ValueError, match="feature"):
        ch.batch_noise(8, feature=64)
    with pytest.raises(ValueError, match="example"):
        ch.batch_noise(8, example=10 ** 6)


def test_batch_noise_explorer():
    e = ch.BatchNoiseExplorer(canvas="none")
    assert e.values == {"batch_size": 32}
    # section 6: the two theoretical values, and why they differ
    assert ("0.168 (sampling theory, for digit 0 plus 31 others drawn without replacement from 1346: 0.172; the rule "
            "of thumb 1/sqrt(batch size) = 0.177)") in e.summary()
    line = gv.plots.find_artist(e.ax_xhat, "x_hat")
    before = line.get_ydata().copy()
    assert before.sum() == pytest.approx(1.0)  # fractions of the batches
    e.update(batch_size=2)
    assert e.noise.batch_size == 2 and not np.array_equal(line.get_ydata(), before)
    s = e.summary()
    assert "Batches of 2" in s and "normalized with the whole training set it is 0.13" in s
    e.update(batch_size=256)
    assert "Batches of 256" in e.readout.value
    e.figure.canvas.draw()


# ----------------------------------------------------------------------------- the training explorer
def test_batch_norm_explorer_every_control_trains_the_right_run():
    e = ch.BatchNormExplorer(canvas="none")
    assert e.values == {"batch_norm": False, "activation": "relu", "weight_scale": 1.0, "lr": 0.3}
    assert e.run is ch.bn_run(False, 1.0, 0.3, activation="relu")[1]
    assert e.reference is ch.bn_run(True, 1.0, 0.3, activation="relu")[1]
    loss = gv.plots.find_artist(e.ax_loss, "rawloss")
    np.testing.assert_array_equal(loss.get_xdata(), e.run.step)
    e.update(batch_norm=True)
    assert e.run is ch.bn_run(True, 1.0, 0.3, activation="relu")[1]
    assert gv.plots.find_artist(e.ax_loss, "loss").get_color() == ch.figures.BN_COLORS[True]
    e.update(batch_norm=False, weight_scale=3.0)
    assert e.run.diverged and "diverged at step" in "".join(t.get_text() for t in e.ax_loss.texts)
    assert "batch norm off: stopped at step" in e.summary()
    e.update(weight_scale=1.0)
    assert not any(t.get_gid() == "explain" for t in e.ax_loss.texts)
    e.update(activation="sigmoid", lr=0.5)
    assert e.run is ch.bn_run(False, 1.0, 0.5)[1]
    g = gv.plots.find_artist(e.ax_grad, "grad").get_ydata()
    np.testing.assert_allclose(g, e.run.grad_norm[0])
    e.figure.canvas.draw()


def test_batch_norm_explorer_gradient_panel_has_its_own_legend_under_it():
    """A cold reader found no legend on the gradient panel (which curve is which had to be guessed from the loss
    panel's colours); inside the panel some setting's norms would lie beneath one, so it sits under the panel."""
    e = ch.BatchNormExplorer(canvas="none")
    e.figure.canvas.draw()
    renderer = e.figure.canvas.get_renderer()

    def entries():
        legend = e.ax_grad.get_legend()
        return [(t.get_text(), h.get_color()) for t, h in zip(legend.get_texts(), legend.legend_handles)]

    run, ref = (gv.plots.find_artist(e.ax_grad, gid) for gid in ("grad", "ref_grad"))
    assert entries() == [("this run", run.get_color()), ("batch norm on", ref.get_color())]
    assert run.get_color() == ch.figures.BN_COLORS[False]
    box = e.ax_grad.get_legend().get_window_extent(renderer)
    assert box.y1 < e.ax_grad.xaxis.label.get_window_extent(renderer).y0 and box.y0 >= 0
    off = e.ax_grad.get_legend()
    assert isinstance(off, gv.plots.QuickLegend)  # drawn from its pixel copy at each frame: no full draw
    e.update(lr=0.1)
    assert e.ax_grad.get_legend() is off  # the same entries: the same legend
    e.update(batch_norm=True)
    assert entries() == [("this run", ch.figures.BN_COLORS[True]), ("batch norm off", ref.get_color())]
    e.update(batch_norm=False)
    assert e.ax_grad.get_legend() is off


def test_batch_norm_explorer_gradient_axis_labels_plain_numbers_from_0_01_to_1000():
    """A cold reader found 5×10⁰, 2×10⁰, 10⁰, 5×10⁻¹ on the gradient panel slow to read: plain numbers there."""
    e = ch.BatchNormExplorer(canvas="none")
    e.figure.canvas.draw()

    def labels():
        lo, hi = e.ax_grad.get_ylim()
        return [t.get_text() for minor in (False, True) for t in e.ax_grad.get_yticklabels(minor=minor)
                if t.get_text() and lo <= t.get_position()[1] <= hi]

    assert set(labels()) == {"0.2", "0.5", "1", "2", "5"}  # the default run's norms: 0.64 to 3.6
    e.update(activation="sigmoid", weight_scale=0.1)  # norms from 2e-9: powers of ten below 0.01
    e.figure.canvas.draw()
    assert {"1", "10⁻³", "10⁻⁹"} <= set(labels()) and not any("×" in t for t in labels())


def test_batch_norm_explorer_blits_its_gradient_legend_as_a_full_draw_would():
    from gradviz import _canvas

    if not _canvas.have_ipympl():
        pytest.skip("ipympl is not installed")
    e = ch.BatchNormExplorer(canvas="ipympl")
    began = blits_as_full_draws(e, [dict(batch_norm=True), dict(batch_norm=False), dict(lr=0.1)])
    assert "full" not in began[:2]  # the other colour's legend is blitted (a static one made each switch a full draw)


# ----------------------------------------------------------------------------- answering a learner quickly
def _refining_mark(ax):
    return [t.get_text() for t in ax.texts if t.get_gid() == "refining" and t.get_visible()]


def test_batch_norm_explorer_answers_a_learner_with_the_first_steps_then_the_whole_runs():
    import asyncio

    async def main():
        e = ch.BatchNormExplorer(canvas="none")
        e.refining_delay = 0.0  # the mark shows on the first draft
        learner_sets(e.controls["weight_scale"], 0.3)
        # the draft: the first 15 steps of the run (the same steps), on the whole run's step axis, and it says so
        assert e.answered == "draft" and e.run.config["steps"] == e.draft_steps == 15
        whole = ch.bn_run(False, 0.3, 0.3, activation="relu")[1]
        np.testing.assert_array_equal(e.run.loss, whole.loss[:15])
        np.testing.assert_array_equal(e.run.grad_norm[0], whole.grad_norm[0])
        assert e.reference is None and not whole.diverged  # batch norm on at this setting: not trained yet
        assert e.ax_loss.get_xlim() == (0, 100)
        assert _refining_mark(e.ax_loss) == ["the first 15 of 100 steps: training ..."]
        assert "batch norm off: the first 15 of 100 steps so far" in e.summary()
        assert "batch norm on: training ..." in e.summary()
        await settled(e)
        np.testing.assert_array_equal(e.run.loss, whole.loss)  # (trained twice: here, and on the worker)
        np.testing.assert_array_equal(e.reference.loss, ch.bn_run(True, 0.3, 0.3, activation="relu")[1].loss)
        assert _refining_mark(e.ax_loss) == [] and "trained 100 steps" in e.summary()
        # both runs kept: switching batch norm, or coming back, is answered at once and in full
        for control, value in (("batch_norm", True), ("weight_scale", 1.0)):
            learner_sets(e.controls[control], value)
            assert e.answered == "final" and e.run.config["steps"] == 100 and e.reference is not None
        assert e.run is ch.bn_run(True, 1.0, 0.3, activation="relu")[1]
        assert e.dropped == 0

    asyncio.run(main())


def test_batch_norm_explorer_lays_out_room_for_its_widest_tick_labels():
    # The layout is computed once: the loss axis' labels within [0.001, 1e6] (100000 at the widest) and the
    # gradient axis' (2×10⁻¹⁰ at the widest) must fit between each y label and its Axes whatever the runs.
    from gradviz.chapters.ch06_batch_norm.explorers import set_loss_limits

    e = ch.BatchNormExplorer(canvas="none")
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    assert not isinstance(e.figure.get_layout_engine(), ConstrainedLayoutEngine)  # laid out once, then kept
    seen = set()
    for loss_limits, grad_limits in (((0.1, 1e6), (2e-10, 8e-10)), ((1e-3, 0.25), (2e5, 8e5))):
        set_loss_limits(e.ax_loss, *loss_limits)
        e.ax_grad.set_ylim(*grad_limits)
        e.figure.canvas.draw()
        r = e.figure.canvas.get_renderer()
        for ax in (e.ax_loss, e.ax_grad):
            lo, hi = ax.get_ylim()
            labels = [t for t in ax.get_yticklabels() + ax.get_yticklabels(minor=True)
                      if t.get_visible() and t.get_text() and lo <= t.get_position()[1] <= hi]
            assert len(labels) >= 2  # under a decade: 2 and 5 x 10^k only (gradviz.plots.SuperscriptLogFormatter)
            ylabel = ax.yaxis.label.get_window_extent(r)
            for t in labels:
                box = t.get_window_extent(r)
                assert box.x0 > ylabel.x1 and box.x0 > 0, t.get_text()
                seen.add(t.get_text())
    assert {"100000", "0.001", "0.002", "2×10⁻¹⁰", "2×10⁵"} <= seen


def test_batch_noise_explorer_answers_a_learner_with_the_first_batches_then_all():
    import asyncio

    async def main():
        e = ch.BatchNoiseExplorer(canvas="none")
        learner_sets(e.controls["batch_size"], 3)
        assert e.answered == "draft" and len(e.noise.batch_mean) == e.draft_batches == 200
        whole = ch.batch_noise(3)
        np.testing.assert_array_equal(e.noise.batch_mean, whole.batch_mean[:200])  # the same batches
        assert e.ax_mean.get_title().startswith("200 batches of 3")
        assert e.refining_text(e.values, 200) == "the first 200 of 2000 batches: drawing the rest ..."
        await settled(e)
        np.testing.assert_array_equal(e.noise.x_hat, whole.x_hat)
        assert e.ax_mean.get_title().startswith("2000 batches of 3")
        learner_sets(e.controls["batch_size"], 32)  # drawn before: at once
        assert e.answered == "final" and len(e.noise.batch_mean) == 2000

    asyncio.run(main())


def test_momentum_explorer_answers_a_long_run_with_its_first_steps_then_all():
    import asyncio

    async def main():
        e = ch.MomentumExplorer(canvas="none")
        learner_sets(e.controls["momentum"], 0.95)  # 200 steps: at once
        assert e.answered == "final" and e.controls["pytorch_momentum"].value == 0.05
        e.update(steps=1000)
        learner_sets(e.controls["momentum"], 0.96)
        assert e.answered == "draft" and e.run.step[-1] == e.draft_steps == 200 and e.run.momentum == 0.96
        whole = ch.experiments.moving_average_run(0.96, 1000, 3.0, 2.0, 32, seed=0)
        np.testing.assert_array_equal(e.run.running_mean, whole.running_mean[:201])  # the same batches
        assert e.ax_mean.get_xlim() == (0, 1000) and e.ax_weight.get_xlim() == (0, 1000)
        assert e.refining_text(e.values, 200) == "the first 200 of 1000 steps: computing ..."
        await settled(e)
        np.testing.assert_array_equal(e.run.running_mean, whole.running_mean)
        learner_sets(e.controls["momentum"], 0.95)
        learner_sets(e.controls["momentum"], 0.96)  # kept: at once
        assert e.answered == "final" and e.run.step[-1] == 1000

    asyncio.run(main())
