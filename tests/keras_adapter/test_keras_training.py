"""SplitModel: fit/evaluate with logged terms, jit_compile, .keras round trip, resume, checkpoints, dead features."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import sift_keras as sk  # noqa: E402
from keras_helpers import tiny_split  # noqa: E402


def _small_model(defence="siftfunnel", seed=0, **kwargs):
    return sk.SplitModel(*tiny_split(seed, **kwargs), sk.make_defence(defence))


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def test_fit_logs_every_term_and_learns(trained_funnel, digits16):
    model, history = trained_funnel
    for key in ("loss", "task", "dcor", "l1", "redundancy", "accuracy", "z_active", "dead_batches"):
        assert key in history.history, key
    h = history.history
    assert h["loss"][-1] < h["loss"][0]
    total = 5 * h["task"][-1] + 2 * h["dcor"][-1] + 0.03 * h["l1"][-1] + 2 * h["redundancy"][-1]
    assert h["loss"][-1] == pytest.approx(total, rel=1e-4)  # the logged terms add up to the loss
    x, y = digits16
    ev = model.evaluate(x[1000:1256], y[1000:1256], batch_size=128, verbose=0, return_dict=True)
    assert ev["accuracy"] > 0.5  # 10 classes: chance is 0.1
    assert ev["dead_batches"] == 0 and 0 < ev["z_active"] <= 1


def test_jit_compiled_step_equals_the_graph_step(digits16):
    x, y = digits16[0][:32], digits16[1][:32]
    losses = []
    for jit in (False, True):
        model = _small_model(seed=1, dropout=0.0)  # XLA draws other random numbers than the graph kernels
        model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=jit)
        h = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
        losses.append(h.history["loss"])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)


def test_keras_file_round_trip(trained_funnel, digits16, tmp_path):
    model, _ = trained_funnel
    x = digits16[0][:20]
    path = tmp_path / "split.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, sk.SplitModel) and isinstance(loaded.edge, sk.FunnelEdge)
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), np.asarray(model(x, training=False)))
    np.testing.assert_array_equal(np.asarray(loaded.transmit(x)), np.asarray(model.transmit(x)))
    assert loaded.defence.loss.get_config() == model.defence.loss.get_config()
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations)
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_resume_after_interruption_equals_an_uninterrupted_run(digits16, tmp_path):
    x, y = digits16[0][:192], digits16[1][:192]

    def run(callbacks):
        model = _small_model(defence="dropout", seed=2)  # dropout on z and in the cloud: random states resume too
        model.compile()
        model.fit(sk.ShuffledArrays(x, y, batch_size=64, seed=3), epochs=3, verbose=0, callbacks=callbacks)
        return model

    reference = _weights(run([]))
    backup = str(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        run([keras.callbacks.BackupAndRestore(backup), _Interrupt(1)])
    resumed = run([keras.callbacks.BackupAndRestore(backup)])
    for a, b in zip(_weights(resumed), reference):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_writes_loadable_models(digits16, tmp_path):
    x, y = digits16[0][:128], digits16[1][:128]
    model = _small_model(defence="nopeek", seed=4)
    model.compile()
    path = tmp_path / "best.keras"
    model.fit(x, y, batch_size=64, epochs=2, verbose=0, validation_data=(x[:64], y[:64]),
              callbacks=[keras.callbacks.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)])
    best = keras.models.load_model(path)
    assert best.defence.kind == "nopeek"
    assert best.evaluate(x[:64], y[:64], verbose=0, return_dict=True)["dcor"] >= 0


def test_dead_features_are_detected_and_reported(digits16):
    x, y = digits16[0][:64], digits16[1][:64]
    model = _small_model(seed=5, activation="relu")
    # push the edge's convolution far negative: its ReLU outputs 0 everywhere
    conv = model.edge.layers[0]
    conv.bias.assign(np.full(conv.bias.shape, -1e4, "float32"))
    model.compile()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    dead = [w for w in caught if issubclass(w.category, sk.DeadFeaturesWarning)]
    assert len(dead) == 1 and "learning rate" in str(dead[0].message)
    assert h.history["z_active"][-1] == 0 and h.history["dead_batches"][-1] == 2


def test_global_dependence_without_a_strategy_is_the_local_objective(digits16):
    x, y = digits16[0][:64], digits16[1][:64]
    a = _small_model(seed=6)
    b = sk.SplitModel(a.edge, a.cloud, a.defence, dependence="global")
    for m in (a, b):
        m.compile()
    ra = a.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    rb = b.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-6)


def test_shuffled_arrays_are_a_function_of_seed_and_epoch():
    x, y = np.arange(10)[:, None], np.arange(10)
    d = sk.ShuffledArrays(x, y, batch_size=4, seed=7)
    first = [d[i][1] for i in range(len(d))]
    d.set_epoch(1)
    second = np.concatenate([d[i][1] for i in range(len(d))])
    d.set_epoch(0)
    assert len(d) == 3 and all(np.array_equal(a, d[i][1]) for i, a in enumerate(first))
    assert sorted(second) == list(range(10)) and not np.array_equal(second, np.concatenate(first))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the in-graph pipeline is TensorFlow's")
@pytest.mark.parametrize("drop", [False, True])
def test_the_tf_dataset_serves_the_batches_of_each_epoch(drop):
    x, y = np.arange(30, dtype="float32").reshape(10, 3), np.arange(10)
    d = sk.ShuffledArrays(x, y, batch_size=4, seed=7, drop_remainder=drop)
    ds, start = d.tf_dataset(3), d.epoch_callback()
    for epoch in (2, 0, 1):  # any order, as a resumed fit starts where it left off
        start.on_epoch_begin(epoch)
        got = [(bx.numpy(), by.numpy()) for bx, by in ds]
        want = [d[i] for i in range(len(d))]  # the PyDataset's own batches of that epoch
        assert len(got) == len(want) == (2 if drop else 3)
        for (gx, gy), (wx, wy) in zip(got, want):
            np.testing.assert_array_equal(gx, wx)
            np.testing.assert_array_equal(gy, wy)
    assert int(ds.cardinality()) == len(d)


def test_ordered_fit_inputs_feed_the_rows_in_order_without_autotuning():
    from sift_keras.data import ordered_fit_inputs

    x, y = np.arange(30, dtype="float32").reshape(10, 3), np.arange(10, dtype="float32")
    fit_kwargs = ordered_fit_inputs(x, y, batch_size=4)
    if keras.backend.backend() == "tensorflow":
        ds = fit_kwargs["x"]
        # tf.data's autotuner stalled about half of a small model's epochs (docs/keras.md, "Speed")
        assert ds.options().autotune.enabled is False
        batches = [(bx.numpy(), by.numpy()) for bx, by in ds]
        assert [len(bx) for bx, _ in batches] == [4, 4, 2]
        np.testing.assert_array_equal(np.concatenate([bx for bx, _ in batches]), x)
        np.testing.assert_array_equal(np.concatenate([by for _, by in batches]), y)
        # the ShuffledArrays pipeline that SplitModel.fit uses is untuned too
        assert sk.ShuffledArrays(x, y, batch_size=4).tf_dataset(2).options().autotune.enabled is False
    else:
        assert fit_kwargs["shuffle"] is False and fit_kwargs["batch_size"] == 4 and fit_kwargs["x"] is x
    with pytest.raises(ValueError, match="batch_size"):
        ordered_fit_inputs(x, y, batch_size=0)


def test_bad_use_is_rejected_with_the_argument_named(digits16):
    edge, cloud = sk.funnel_split(10, base_channels=4, input_shape=(16, 16, 1))
    with pytest.raises(ValueError, match="dependence"):
        sk.SplitModel(edge, cloud, dependence="all")
    with pytest.raises(TypeError, match="defence"):
        sk.SplitModel(edge, cloud, sk.SiftFunnelLoss())
    model = sk.SplitModel(edge, cloud)
    with pytest.raises(ValueError, match="loss"):
        model.compile(loss="mse")
    x, y = digits16[0][:8], digits16[1][:8]
    small = _small_model(seed=7)
    small.compile()
    with pytest.raises(ValueError, match="sample_weight"):  # the penalties are batch statistics
        small.fit(x, y, sample_weight=np.ones(8), epochs=1, verbose=0)
    with pytest.raises(TypeError, match="y_pred"):  # the bare logits carry no z for the penalties
        small.compute_loss(x, y, small(x))


def test_distillation_trains_from_a_frozen_teacher_that_is_not_saved(digits16, tmp_path):
    x, y = digits16[0][:256], digits16[1][:256]
    keras.utils.set_random_seed(0)
    teacher = sk.SplitModel(*tiny_split(0), sk.make_defence("none"))
    teacher.compile()
    teacher.fit(x, y, batch_size=64, epochs=1, verbose=0)
    frozen = _weights(teacher)
    student = sk.SplitModel(*tiny_split(1), sk.make_defence("siftfunnel", teacher=teacher, distill=2.0))
    student.compile()
    h = student.fit(x, y, batch_size=64, epochs=2, verbose=0).history
    assert h["distill"][-1] > 0 and "distill" in student.term_names
    total = (5 * h["task"][-1] + 2 * h["dcor"][-1] + 0.03 * h["l1"][-1] + 2 * h["redundancy"][-1]
             + 2 * h["distill"][-1])
    assert h["loss"][-1] == pytest.approx(total, rel=1e-4)  # the distillation term is in the objective
    for a, b in zip(frozen, _weights(teacher)):
        np.testing.assert_array_equal(a, b)  # the teacher is not trained
    assert len(student.weights) == len(sk.SplitModel(*tiny_split(1), sk.make_defence("siftfunnel")).weights)
    student.save(tmp_path / "student.keras")
    loaded = keras.saving.load_model(tmp_path / "student.keras")
    assert loaded.defence.teacher is None and loaded.defence.loss.distill == 2.0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x[:8])), keras.ops.convert_to_numpy(student(x[:8])),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="teacher: required"):
        loaded.compile()
        loaded.fit(x[:64], y[:64], batch_size=64, epochs=1, verbose=0)
