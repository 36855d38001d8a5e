"""Keras defences: torch's names and keyword-only settings, the old class name still loads, register_defence."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

import sift_keras as sk  # noqa: E402
from keras_helpers import tiny_split  # noqa: E402

#: how a GaussianNoiseDefence was serialised before the rename (as it stands in older `.keras` files)
OLD_NOISE_CONFIG = {
    "module": "sift_keras.defences", "class_name": "GaussianNoiseDefence",
    "config": {"name": "gaussian_noise_defence", "trainable": True, "dtype": "float32", "seed": 3, "sigma": 0.25},
    "registered_name": "sift_keras>GaussianNoiseDefence",
}


def test_the_kinds_and_class_names_are_torchs():
    st = pytest.importorskip("sift_torch")
    assert set(sk.DEFENCES) == set(st.DEFENCES)
    for kind, cls in sk.DEFENCES.items():
        assert cls.kind == kind and cls.__name__ == st.DEFENCES[kind].__name__ and st.DEFENCES[kind].kind == kind
    assert "GaussianNoiseDefence" not in sk.__all__ and "NoiseDefence" in sk.__all__
    assert type(sk.make_defence("noise", sigma=0.5)) is sk.NoiseDefence


def test_the_old_noise_class_name_still_deserialises():
    old = keras.saving.deserialize_keras_object(OLD_NOISE_CONFIG)
    assert isinstance(old, sk.NoiseDefence) and old.sigma == 0.25 and old.seed == 3 and old.kind == "noise"
    z = np.zeros((2, 3, 3, 4), "float32")
    sent = np.asarray(old(z, training=False))
    assert sent.shape == z.shape and 0.1 < sent.std() < 0.4  # noise of sigma 0.25 at inference too
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(old))
    assert type(again) is sk.GaussianNoiseDefence and again.get_config() == old.get_config()


def test_a_split_model_saved_with_the_old_class_loads(tmp_path):
    x = np.random.default_rng(0).random((4, 16, 16, 1)).astype("float32")
    model = sk.SplitModel(*tiny_split(0), sk.GaussianNoiseDefence(sigma=0.0))
    model.build(x.shape)
    model.save(tmp_path / "old.keras")
    loaded = keras.models.load_model(tmp_path / "old.keras")
    assert isinstance(loaded.defence, sk.NoiseDefence) and loaded.defence.sigma == 0.0
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), np.asarray(model(x, training=False)))


@pytest.mark.parametrize("cls, value", [(sk.NoiseDefence, 0.5), (sk.GaussianNoiseDefence, 0.5),
                                        (sk.DropoutDefence, 0.5), (sk.NoPeekDefence, 0.5), (sk.MIDDefence, 0.1),
                                        (sk.BiDODefence, 0.1), (sk.SiftFunnelDefence, sk.SiftFunnelLoss())])
def test_settings_are_keyword_only(cls, value):
    with pytest.raises(TypeError, match="positional"):
        cls(value)


class Scaled(sk.Defence):
    """Sends ``factor * z``: a user's defence, registered in the test below."""

    kind = "scaled_test"

    def __init__(self, *, factor: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = float(factor)

    def call(self, z, training=None):
        return self.factor * z

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_register_defence_adds_a_serialisable_kind():
    assert sk.register_defence(Scaled) is Scaled
    try:
        assert keras.saving.get_registered_name(Scaled) == "sift_keras_custom>Scaled"
        d = sk.make_defence("scaled_test", factor=3.0)
        assert type(d) is Scaled and d.factor == 3.0
        z = np.ones((1, 2, 2, 1), "float32")
        back = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(d))
        assert type(back) is Scaled and back.factor == 3.0
        np.testing.assert_array_equal(np.asarray(back(z)), 3.0 * z)
        # a class the user registered with Keras keeps its own name
        mine = keras.saving.register_keras_serializable(package="mine")(type("Mine", (Scaled,), {"kind": "mine"}))
        sk.register_defence(mine)
        assert keras.saving.get_registered_name(mine) == "mine>Mine" and sk.DEFENCES["mine"] is mine
    finally:
        sk.DEFENCES.pop("scaled_test", None)
        sk.DEFENCES.pop("mine", None)
    with pytest.raises(ValueError, match="name must be one of"):
        sk.make_defence("scaled_test")


def test_register_defence_rejects_bad_input_by_name():
    with pytest.raises(TypeError, match="cls"):
        sk.register_defence(Scaled())
    with pytest.raises(TypeError, match="cls"):
        sk.register_defence(keras.layers.Dense)
    with pytest.raises(ValueError, match="kind"):
        sk.register_defence(type("NoKind", (sk.Defence,), {"kind": None}))
    with pytest.raises(ValueError, match="kind"):
        sk.register_defence(type("EmptyKind", (sk.Defence,), {"kind": ""}))
    assert "None" not in sk.DEFENCES and "" not in sk.DEFENCES
