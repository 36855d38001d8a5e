"""SiftFunnelLoss and the defences' objectives against independent formulas, numpy sift_core and sift_torch."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import sift_keras as sk  # noqa: E402

import sift_core  # noqa: E402


def _batch(seed=0, n=16):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 6, 6, 1)).astype("float32")
    z = rng.normal(size=(n, 3, 3, 4)).astype("float32")  # channels-last
    logits = rng.normal(size=(n, 5)).astype("float32")
    labels = rng.integers(0, 5, n)
    return x, z, logits, labels


def _plain_redundancy(z_nhwc):
    """Per sample: mean squared off-diagonal Pearson correlation of the channels over positions."""
    out = []
    for s in z_nhwc.astype(np.float64):
        c = np.corrcoef(s.reshape(-1, s.shape[-1]).T)
        out.append((c[~np.eye(len(c), dtype=bool)] ** 2).mean())
    return float(np.mean(out))


def _plain_smoothed_kl(logits, labels, eps):
    k = logits.shape[1]
    t = np.full(logits.shape, eps / (k - 1))
    t[np.arange(len(labels)), labels] = 1 - eps
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return float(np.mean(np.sum(t * (np.log(t) - logp), axis=1)))


def test_terms_equal_independent_formulas_and_numpy_core():
    x, z, logits, labels = _batch()
    loss = sk.SiftFunnelLoss(epsilon=0.3)
    terms = {k: float(v) for k, v in loss(tf.constant(x), tf.constant(z), tf.constant(logits),
                                          tf.constant(labels)).items()}
    assert terms["task"] == pytest.approx(_plain_smoothed_kl(logits.astype(np.float64), labels, 0.3), rel=1e-5)
    assert terms["l1"] == pytest.approx(float(np.abs(z).mean()), rel=1e-5)
    assert terms["redundancy"] == pytest.approx(_plain_redundancy(z), rel=1e-4)
    assert terms["dcor"] == pytest.approx(float(sift_core.distance_correlation(x, z, squared=True)), rel=1e-4)
    assert terms["redundancy"] == pytest.approx(float(sift_core.channel_redundancy(z, channels_last=True)), rel=1e-4)
    expected = 5 * terms["task"] + 2 * terms["dcor"] + 0.03 * terms["l1"] + 2 * terms["redundancy"]
    assert terms["total"] == pytest.approx(expected, rel=1e-5)
    core = sift_core.siftfunnel_terms(x, np.transpose(z, (0, 3, 1, 2)), logits, labels, epsilon=0.3)
    for k, v in core.items():
        assert terms[k] == pytest.approx(float(v), rel=1e-4, abs=1e-6)


def test_terms_equal_the_torch_adapter():
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("sift_torch")
    x, z, logits, labels = _batch(seed=1)
    t_loss = st.SiftFunnelLoss(epsilon=0.35, beta=0.4, gamma=0.1)
    t_loss(torch.from_numpy(np.transpose(x, (0, 3, 1, 2))), torch.from_numpy(np.transpose(z, (0, 3, 1, 2))),
           torch.from_numpy(logits), torch.from_numpy(labels))
    k_terms = sk.SiftFunnelLoss(epsilon=0.35, beta=0.4, gamma=0.1)(x=tf.constant(x), z=tf.constant(z),
                                                                   logits=tf.constant(logits),
                                                                   labels=tf.constant(labels))
    for name in ("task", "dcor", "l1", "redundancy", "total"):
        assert float(k_terms[name]) == pytest.approx(float(t_loss.terms[name]), rel=1e-5, abs=1e-6), name


def test_label_layouts_agree():
    x, z, logits, labels = _batch(seed=2)
    loss = sk.SiftFunnelLoss()
    ref = float(loss(x, z, logits, tf.constant(labels))["task"])
    onehot = np.eye(5, dtype="float32")[labels]
    assert float(loss(x, z, logits, tf.constant(onehot))["task"]) == pytest.approx(ref, rel=1e-6)
    assert float(loss(x, z, logits, tf.constant(labels[:, None]))["task"]) == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("jit", [False, True])
def test_graph_mode_with_unknown_batch_matches_eager(jit):
    x, z, logits, labels = _batch(seed=3)
    loss = sk.SiftFunnelLoss()
    eager = {k: float(v) for k, v in loss(tf.constant(x), tf.constant(z), tf.constant(logits),
                                          tf.constant(labels)).items()}
    spec = [tf.TensorSpec((None, *a.shape[1:]), tf.as_dtype(a.dtype)) for a in (x, z, logits, labels)]
    fn = tf.function(lambda *a: loss(*a), input_signature=spec, jit_compile=jit)
    graph = {k: float(v) for k, v in fn(x, z, logits, labels).items()}
    for k in eager:
        assert graph[k] == pytest.approx(eager[k], rel=1e-5, abs=1e-7), k


def test_feature_penalties_reach_the_edge_but_not_the_cloud(trained_funnel):
    model, _ = trained_funnel
    x = np.random.default_rng(4).random((16, 16, 16, 1)).astype("float32")
    y = np.arange(16) % 10
    loss = model.defence.loss
    with tf.GradientTape(persistent=True) as tape:
        z = model.edge(x, training=True)
        logits = model.cloud(z, training=True)
        terms = loss(x, z, logits, y)
        penalty = loss.beta * terms["dcor"] + loss.lambda_1 * terms["l1"] + loss.gamma * terms["redundancy"]
    cloud_grads = tape.gradient(penalty, model.cloud.trainable_weights)
    assert all(g is None or float(tf.reduce_max(tf.abs(g))) == 0.0 for g in cloud_grads)
    edge_grads = tape.gradient(penalty, model.edge.trainable_weights)
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in edge_grads if g is not None) > 0
    assert all(bool(tf.reduce_all(tf.math.is_finite(g))) for g in edge_grads if g is not None)


def test_defence_objectives_are_the_core_objectives():
    x, z, logits, labels = _batch(seed=5)
    nopeek = sk.make_defence("nopeek", weight=0.7).loss_terms(x, z, logits, labels)
    core = sift_core.nopeek_terms(x, z, logits, labels, weight=0.7)
    assert float(nopeek["total"]) == pytest.approx(float(core["total"]), rel=1e-5)
    bido = sk.make_defence("bido").loss_terms(tf.constant(x), tf.constant(z), tf.constant(logits), labels)
    core = sift_core.bido_terms(x, z, logits, labels)
    for k in ("hsic_xz", "hsic_zy", "total"):
        assert float(bido[k]) == pytest.approx(float(core[k]), rel=1e-4, abs=1e-7)
    mid = sk.make_defence("mid", weight=0.1, seed=0)
    zt = tf.constant(z)
    sent, aux = mid.transmit(zt, training=True)
    terms = mid.loss_terms(x, zt, logits, labels, aux)
    kl = sift_core.gaussian_kl(aux["mean"].numpy(), aux["logvar"].numpy())
    assert float(terms["kl"]) == pytest.approx(float(kl), rel=1e-5)
    assert float(terms["total"]) == pytest.approx(float(terms["task"]) + 0.1 * float(kl), rel=1e-5)
    np.testing.assert_allclose(mid(zt, training=False).numpy(), aux["mean"].numpy(), rtol=1e-6)


def test_noise_and_dropout_act_at_inference():
    z = tf.ones((64, 4, 4, 8))
    noise = sk.make_defence("noise", sigma=0.8, seed=1)
    a, b = noise(z, training=False).numpy(), noise(z, training=False).numpy()
    assert not np.allclose(a, b)
    assert np.std(a - 1.0) == pytest.approx(0.8, rel=0.05)
    kept = sk.make_defence("dropout", rate=0.8, seed=1)(z, training=False).numpy()
    assert np.mean(kept == 0) == pytest.approx(0.8, abs=0.03)
    np.testing.assert_allclose(kept[kept != 0], 5.0, rtol=1e-6)  # scaled by 1 / (1 - rate)


def test_invalid_settings_name_the_argument():
    for kwargs, name in (({"beta": -1.0}, "beta"), ({"epsilon": 1.0}, "epsilon"), ({"num_classes": 1}, "num_classes")):
        with pytest.raises(ValueError, match=name):
            sk.SiftFunnelLoss(**kwargs)
    with pytest.raises(ValueError, match="name"):
        sk.make_defence("dp-sgd")
    with pytest.raises(ValueError, match="rate"):
        sk.make_defence("dropout", rate=1.0)
    with pytest.raises(ValueError, match="labels"):
        sk.SiftFunnelLoss()(np.zeros((4, 2)), np.zeros((4, 2, 2, 1)), np.zeros((4, 3)), np.zeros((4, 1, 1)))


def _xla_gradient(batch):
    x, z, logits, labels = _batch(seed=6)
    loss = sk.SiftFunnelLoss()
    spec = [tf.TensorSpec((batch, *a.shape[1:]), tf.as_dtype(a.dtype)) for a in (x, z, logits, labels)]

    def grad(x, z, logits, labels):
        with tf.GradientTape() as tape:
            tape.watch([z, logits])
            total = loss(x, z, logits, labels)["total"]
        return tape.gradient(total, [z, logits])

    xla = tf.function(grad, input_signature=spec, jit_compile=True)(x, z, logits, labels)
    eager = grad(*(tf.constant(a) for a in (x, z, logits, labels)))
    for a, b in zip(xla, eager):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)


def test_xla_gradient_with_a_static_batch_matches_eager():
    _xla_gradient(16)


def test_xla_gradient_with_a_dynamic_batch_matches_eager():
    _xla_gradient(None)


def test_the_siftfunnel_defaults_are_the_cores():
    import inspect

    from sift_core.objective import SIFTFUNNEL_DEFAULTS

    params = inspect.signature(sk.SiftFunnelLoss).parameters
    assert {k: params[k].default for k in SIFTFUNNEL_DEFAULTS} == SIFTFUNNEL_DEFAULTS


def test_distillation_term_is_the_cores_and_the_torch_adapters():
    x, z, logits, labels = _batch(3)
    teacher = np.random.default_rng(4).normal(size=logits.shape).astype("float32")
    loss = sk.SiftFunnelLoss(distill=2.0, temperature=3.0)
    assert loss.terms == ("task", "dcor", "l1", "redundancy", "distill")
    got = {k: float(v) for k, v in loss(x, z, logits, labels, teacher_logits=teacher).items()}
    # plain formula: T^2 KL(softmax(t/T) || softmax(s/T)), mean over the batch
    p = np.exp(teacher / 3.0 - np.log(np.exp(teacher / 3.0).sum(1, keepdims=True)))
    logq = logits / 3.0 - np.log(np.exp(logits / 3.0).sum(1, keepdims=True))
    plain = 9.0 * float(np.mean(np.sum(p * (np.log(p) - logq), axis=1)))
    assert got["distill"] == pytest.approx(plain, rel=1e-4)
    without = {k: float(v) for k, v in sk.SiftFunnelLoss()(x, z, logits, labels).items()}
    assert got["total"] == pytest.approx(without["total"] + 2.0 * plain, rel=1e-4)
    torch = pytest.importorskip("torch")
    import sift_torch as st

    t_loss = st.SiftFunnelLoss(teacher=torch.nn.Identity(), distill=2.0, temperature=3.0)
    t_loss(torch.from_numpy(teacher), torch.from_numpy(np.transpose(z, (0, 3, 1, 2)).copy()),
           torch.from_numpy(logits), torch.from_numpy(labels))
    # the torch loss's teacher sees its input x: here the identity, given the teacher's logits as x
    assert float(t_loss.terms["distill"]) == pytest.approx(plain, rel=1e-4)
    assert sk.SiftFunnelLoss.from_config(loss.get_config()).get_config() == loss.get_config()
    with pytest.raises(ValueError, match="teacher_logits"):
        loss(x, z, logits, labels)
    with pytest.raises(ValueError, match="temperature"):
        sk.SiftFunnelLoss(temperature=0.0)
