"""Chapter 06 (batch normalization): every number the chapter states, its package functions and its explorer.

The functions below compute what notebooks/06_batch_normalization.ipynb prints; these tests pin them to
hand-computed values, to independent numpy computations and to the claims the chapter's prose makes.
"""

import numpy as np
import pytest

import gradviz as gv
from gradviz.chapters import ch06_batch_norm as ch
from gradviz.layers import BatchNorm
from gradviz.network import MLP, BatchNormOptions

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
def test_from_pytorch_equals_keras_momentum_bit_for_bit():
    keras, torch = BatchNorm(3, momentum=0.9), BatchNorm.from_pytorch(3, momentum=0.1)
    assert keras.momentum == torch.momentum == 0.9
    rng = np.random.default_rng(0)
    for _ in range(5):
        b = 5.0 + 2.0 * rng.standard_normal((32, 3))
        keras.forward(b, training=True)
        torch.forward(b, training=True)
    for k in keras.state:
        np.testing.assert_array_equal(keras.state[k], torch.state[k])


def test_running_means_hand_computed_and_both_conventions():
    np.testing.assert_allclose(ch.running_means([10, 20], 0.9), [0.0, 1.0, 2.9], rtol=1e-14)
    np.testing.assert_allclose(ch.running_means([4, 6], 0.9), [0.0, 0.4, 0.96], rtol=1e-14)
    means = [3.0, -1.0, 7.5, 2.0]
    np.testing.assert_allclose(ch.running_means(means, 0.99), ch.running_means(means, 0.01, pytorch=True),
                               rtol=1e-12)
    # momentum 0 keeps only the last batch
    np.testing.assert_allclose(ch.running_means(means, 0.0)[1:], means)


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
    assert ch.pytorch_momentum(0.99) == pytest.approx(0.01, rel=1e-12)
    assert ch.pytorch_momentum(0.9) == pytest.approx(0.1, rel=1e-12)
    assert ch.keras_momentum(0.1) == 0.9
    assert ch.keras_momentum(1.0) == 0.0
    with pytest.raises(ValueError, match="keras_momentum"):
        ch.pytorch_momentum(1.0)
    with pytest.raises(ValueError, match="pytorch_momentum"):
        ch.keras_momentum(0.0)


def test_moving_average_run_follows_the_recursion():
    r = ch.moving_average_run(0.95, steps=50, true_mean=3.0, true_std=2.0, batch_size=16, seed=1)
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
    r2 = ch.moving_average_run(0.5, steps=50, batch_size=16, seed=1)
    np.testing.assert_array_equal(r.batch_mean, r2.batch_mean)


def test_moving_average_run_chapter_numbers():
    slow, fast = ch.moving_average_run(0.99, 200), ch.moving_average_run(0.9, 200)
    # the figure's claim: with 0.99 the running mean is far below the batch means at step 100, short at 200
    assert slow.running_mean[100] < 0.7 * 3.0
    assert slow.running_mean[200] < 0.92 * 3.0
    assert abs(fast.running_mean[100] - 3.0) < 0.3
    with pytest.raises(ValueError, match="batch_size"):
        ch.moving_average_run(0.9, 10, batch_size=1)
    with pytest.raises(ValueError, match="momentum"):
        ch.moving_average_run(1.5)
    with pytest.raises(ValueError, match="true_std"):
        ch.moving_average_run(0.9, true_std=0.0)


# ----------------------------------------------------------------------------- modes, single examples
def test_kept_moving_statistics_restores_state():
    net = ch.bn_network(batch_norm=True)
    before = [{k: v.copy() for k, v in ly.state.items()} for ly in net.layers]
    with ch.kept_moving_statistics(net):
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
    assert g_plain[0] / g_plain[-1] < 1e-2  # vanishing: orders of magnitude
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
    with ch.kept_moving_statistics(net):
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


def test_scale_invariance_of_the_forward_pass_and_gradient_ratio():
    digits = gv.data.load_digits().X_test[:256]
    diffs = {}
    for bn in (False, True):
        a = ch.bn_network(batch_norm=bn, weight_scale=1.0).forward(digits, training=True)
        b = ch.bn_network(batch_norm=bn, weight_scale=10.0).forward(digits, training=True)
        diffs[bn] = np.abs(a - b).max()
    assert diffs[False] > 0.5 and diffs[True] < 0.05
    g1 = ch.bn_run(True, 1.0)[1].grad_norm[0]
    g10 = ch.bn_run(True, 10.0)[1].grad_norm[0]
    np.testing.assert_allclose(g1 / g10, 10.0, rtol=0.05)
    assert np.all(g1 / g10 < 10.0)  # eps: a little less than ten


def test_bn_run_is_cached_and_validates():
    a = ch.bn_run(True, 1.0)
    b = ch.bn_run(batch_norm=True, weight_scale=1, lr=0.5, momentum=0.9, steps=100, batch_size=32)
    assert a is b
    assert list(a[1].record_steps) == [0, 100]
    with pytest.raises(ValueError, match="lr"):
        ch.bn_run(True, lr=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        ch.bn_run(True, momentum=1.0)


@pytest.fixture(scope="module")
def sweep():
    return ch.bn_sweep()


def test_bn_sweep_shapes_and_the_chapters_claims(sweep):
    assert sweep.scale_accuracy.shape == (2, 5) and sweep.lr_accuracy.shape == (2, 4)
    assert len(sweep.histories) == 16  # 18 configurations, 2 shared
    plain_s, bn_s = sweep.scale_accuracy
    plain_l, bn_l = sweep.lr_accuracy
    assert np.all(bn_s > plain_s) and np.all(bn_s >= 0.7)
    assert np.all(plain_s[:-1] < 0.15) and plain_s[-1] < 0.5  # only the largest scale gets off the ground
    assert np.all(plain_l < 0.15)
    assert np.all(bn_l[:3] > 0.8) and bn_l[3] < 0.6  # 0.1 .. 2 work, 8 hurts
    assert not any(sweep.diverged.values())
    # the shared runs are the section-4 runs
    assert sweep.histories[(True, 1.0, 0.5)] is ch.bn_run(True)[1]
    assert sweep.scale_accuracy[1, 2] == sweep.lr_accuracy[1, 1]
    t = sweep.table()
    assert "weight scale" in t and "learning rate" in t and t.count("with BN") == 2


def test_bn_sweep_progress_bar_and_errors(sweep, capsys):
    again = ch.bn_sweep(scales=(1.0,), lrs=(0.5,), progress=True)
    assert again.histories[(False, 1.0, 0.5)] is sweep.histories[(False, 1.0, 0.5)]
    with pytest.raises(ValueError, match="scales"):
        ch.bn_sweep(scales=(0.0,))


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
    with ch.kept_moving_statistics(net):
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
    assert h_raw.loss[:5].max() > 50 * np.log(10)  # shoots up far above a uniform guess
    assert runs["standardized pixels"][1].loss[:5].max() < np.log(10) * 1.3
    assert h_raw.dead_fraction[-1, 0] > 0.9
    first = runs["raw pixels, batch norm first"][0].input_bn
    raw = gv.data.load_digits_raw()
    assert np.corrcoef(first.state["running_mean"], raw.X_train.mean(axis=0))[0, 1] > 0.999
    assert np.corrcoef(np.sqrt(first.state["running_var"]), raw.X_train.std(axis=0))[0, 1] > 0.99


# ----------------------------------------------------------------------------- exercises
def test_exercises_answers_and_checks(capsys):
    assert gv.exercises.EXERCISES["06.1"].answer() == pytest.approx(2.9, rel=1e-12)
    assert gv.exercises.EXERCISES["06.2"].answer() == pytest.approx(0.01, rel=1e-12)
    assert gv.exercises.EXERCISES["06.3"].answer() == 384
    assert gv.exercises.check("06.1", 2.9) and gv.exercises.check("06.2", 0.01) and gv.exercises.check("06.3", 384)
    assert not gv.exercises.check("06.2", 0.99)
    assert not gv.exercises.check("06.3", 768)
    for i in ("06.1", "06.2", "06.3"):
        gv.exercises.solution(i)
    out = capsys.readouterr().out
    assert "2.9" in out and "0.01" in out and "384" in out


# ----------------------------------------------------------------------------- plots, figures, explorer
def test_draw_moving_average_updates_in_place():
    from gradviz import plots

    fig, (a1, a2) = plots.new_figure(1, 2)
    r = ch.moving_average_run(0.9, 50)
    ch.draw_moving_average(a1, a2, r, references={0.99: "Keras"})
    n_lines = len(a1.lines) + len(a2.lines)
    line = plots._find(a1, "running_mean")
    np.testing.assert_array_equal(line.get_ydata(), r.running_mean)
    r2 = ch.moving_average_run(0.5, 80)
    ch.draw_moving_average(a1, a2, r2, references={0.99: "Keras"})
    assert len(a1.lines) + len(a2.lines) == n_lines  # updated, not added
    np.testing.assert_array_equal(plots._find(a1, "running_mean").get_ydata(), r2.running_mean)
    np.testing.assert_allclose(plots._find(a2, "weight:0.99").get_ydata(), 0.99 ** np.arange(81))
    assert a1.get_xlim() == (0, 80)


def test_plot_bn_sweep_and_figures(sweep):
    from gradviz import figures, plots

    fig, axes = plots.new_figure(1, 2)
    ch.plot_bn_sweep(sweep, axes=axes)
    np.testing.assert_allclose(plots._find(axes[0], "scale:bn").get_ydata(), 100 * sweep.scale_accuracy[1])
    np.testing.assert_allclose(plots._find(axes[1], "lr:plain").get_xdata(), sweep.lrs)
    ch6 = [n for n, spec in figures.FIGURES.items() if spec.chapter == 6]
    assert set(ch6) == {"bn_moving_averages", "bn_deep_sigmoid_training", "bn_init_scale_and_lr_sweep",
                        "bn_raw_pixels"}
    f = ch.bn_init_scale_and_lr_sweep(sweep)
    assert len(f.axes) == 2
    f = ch.bn_deep_sigmoid_training()
    gids = [ln.get_gid() for ln in f.axes[1].lines]
    assert "grad:with batch norm" in gids and "grad:without batch norm" in gids
    assert len(ch.bn_moving_averages().axes) == 2


@pytest.fixture
def explorer():
    return ch.MomentumExplorer(canvas="none")


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
    line = gv.plots._find(explorer.ax_mean, "running_mean")
    before = line.get_ydata().copy()
    explorer.update(steps=500)
    assert len(line.get_xdata()) == 501 and explorer.ax_mean.get_xlim() == (0, 500)
    explorer.update(batch_size=4)
    assert explorer.run.batch_size == 4
    explorer.update(momentum=0.9)
    np.testing.assert_array_equal(line.get_ydata(), explorer.run.running_mean)
    assert not np.array_equal(line.get_ydata()[:201], before)
    w = gv.plots._find(explorer.ax_weight, "weight")
    np.testing.assert_allclose(w.get_ydata()[:10], 0.9 ** np.arange(10))
    s = explorer.summary()
    assert "after 44 steps" in s and "batches of 4" in s
    # the run drawn is the package's, same seed
    ref = ch.moving_average_run(0.9, 500, 3.0, 2.0, 4, seed=0)
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
