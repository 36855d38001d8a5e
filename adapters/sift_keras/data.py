"""Reproducible input pipelines: batches reshuffled per epoch from (seed, epoch)."""

from __future__ import annotations

import numpy as np

from ._keras import check_positive_int, keras

__all__ = ["ShuffledArrays", "ordered_fit_inputs", "without_autotune"]


class ShuffledArrays(keras.utils.PyDataset):
    """(x, y) arrays served in batches, reshuffled every epoch by a permutation of (``seed``, epoch).

    Keras's own shuffling draws from the global random state, so a run resumed
    with ``BackupAndRestore`` sees other batches than the run it continues.
    Here epoch ``e`` always sees the permutation drawn from
    ``numpy.random.default_rng([seed, e])``; :meth:`SplitModel.fit
    <sift_keras.trainer.SplitModel.fit>` sets the epoch through
    :meth:`epoch_callback` and passes ``shuffle=False``.
    """

    def __init__(self, x, y, *, batch_size: int = 128, seed: int = 0, shuffle: bool = True,
                 drop_remainder: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.x = np.asarray(x)
        self.y = np.asarray(y)
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"x and y must have the same number of samples; got {self.x.shape[0]} and "
                             f"{self.y.shape[0]}")
        if self.x.shape[0] == 0:
            raise ValueError("x holds no samples")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.drop_remainder = bool(drop_remainder)
        self.epoch = 0
        self._order = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self._order = None

    def order(self) -> np.ndarray:
        """Sample order of the current epoch."""
        if self._order is None:
            n = self.x.shape[0]
            self._order = (np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle
                           else np.arange(n))
        return self._order

    def __len__(self) -> int:
        n = self.x.shape[0]
        return n // self.batch_size if self.drop_remainder and n >= self.batch_size else -(-n // self.batch_size)

    def __getitem__(self, index: int):
        idx = self.order()[index * self.batch_size:(index + 1) * self.batch_size]
        return self.x[idx], self.y[idx]

    def epoch_callback(self) -> keras.callbacks.Callback:
        """A callback that tells this dataset (and its :meth:`tf_dataset`, if made) which epoch starts."""
        data = self

        class _SetEpoch(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                data.set_epoch(epoch)
                if data._tf_epoch is not None:
                    data._tf_epoch.assign(epoch)

        return _SetEpoch()

    _tf_epoch = None

    def tf_dataset(self, epochs: int):
        """The same batches as a ``tf.data.Dataset`` of one epoch, for the TensorFlow backend.

        Keras feeds a ``PyDataset`` through ``tf.data.Dataset.from_generator``, a Python call per
        batch: an epoch of the demo's CNN took 1.7x as long as from in-memory arrays
        (2 CPU cores, one TensorFlow thread). Here the per-epoch orders of epochs ``0 .. epochs - 1``
        are computed up front (as :meth:`order` does) and the batches gathered inside TensorFlow;
        the epoch is a variable that :meth:`epoch_callback` sets before Keras starts the epoch's
        iterator, so a resumed fit (``initial_epoch``, ``BackupAndRestore``) sees the batches of
        the epoch it resumes, as with the ``PyDataset``.
        """
        import tensorflow as tf

        epochs = check_positive_int(epochs, "epochs")
        current = self.epoch
        orders = []
        for e in range(epochs):
            self.set_epoch(e)
            orders.append(self.order())
        self.set_epoch(current)
        table = tf.constant(np.stack(orders).astype(np.int64))
        xs, ys = tf.constant(self.x), tf.constant(self.y)
        if self._tf_epoch is None:
            self._tf_epoch = tf.Variable(np.int64(current), trainable=False, dtype=tf.int64)
        epoch, size, drop = self._tf_epoch, self.batch_size, self.drop_remainder and len(self.x) >= self.batch_size

        def one_epoch(_):
            order = tf.gather(table, tf.minimum(epoch, epochs - 1))
            return tf.data.Dataset.from_tensor_slices(order).batch(size, drop_remainder=drop)

        # flat_map hides the length: stated, so Keras sizes its epochs and progress bar
        return (tf.data.Dataset.from_tensors(np.int64(0)).flat_map(one_epoch)
                .apply(tf.data.experimental.assert_cardinality(len(self)))
                .map(lambda idx: (tf.gather(xs, idx), tf.gather(ys, idx))).prefetch(2)
                .apply(without_autotune))


def without_autotune(dataset):
    """``dataset`` with tf.data's autotuning off.

    With it on (TensorFlow's default), about half of the epochs of a small model stalled for a
    constant ~1.2 s on this 2-core machine: the inverse-network decoder's 28-batch epoch took
    2.56-2.60 s or 1.3-1.6 s, with arrays, a plain ``tf.data`` pipeline or one without prefetch
    alike; off, every epoch took 1.2-1.6 s (docs/keras.md, "Speed"). The batches are unchanged.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def ordered_fit_inputs(x, y, *, batch_size: int) -> dict:
    """``Model.fit`` keywords that feed (x, y) in order, in batches of ``batch_size`` (the last
    may be short): a ``tf.data.Dataset`` without autotuning (:func:`without_autotune`) on
    TensorFlow, the arrays with ``shuffle=False`` on the other backends."""
    batch_size = check_positive_int(batch_size, "batch_size")
    if keras.backend.backend() != "tensorflow":
        return {"x": x, "y": y, "batch_size": batch_size, "shuffle": False}
    import tensorflow as tf

    return {"x": without_autotune(tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size))}
