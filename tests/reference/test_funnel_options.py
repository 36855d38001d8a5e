"""The funnel's output stage from a spec: this library's (standardised, LeakyReLU) or the authors' (ReLU)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from sift_reference.spec import FUNNEL_ACTIVATIONS, SpecError, spec_from_dict


def _spec(tiny_spec_dict, **funnel):
    d = copy.deepcopy(tiny_spec_dict)
    d["defences"] = [{"kind": "none"}, {"kind": "siftfunnel", "funnel_channels": 4, **funnel}]
    return d


def test_defaults_and_bad_values_are_named(tiny_spec_dict):
    spec = spec_from_dict(_spec(tiny_spec_dict))
    assert spec.defences[1].params["funnel_activation"] == "leaky_relu" and spec.defences[1].params["funnel_norm"]
    with pytest.raises(SpecError, match=r"defences\[1\]\.funnel_activation: must be one of 'leaky_relu'"):
        spec_from_dict(_spec(tiny_spec_dict, funnel_activation="gelu"))
    with pytest.raises(SpecError, match=r"defences\[1\]\.funnel_norm: must be true or false; got 1"):
        spec_from_dict(_spec(tiny_spec_dict, funnel_norm=1))
    d = _spec(tiny_spec_dict)
    d["sweep"] = {"strengths": {"siftfunnel": {"funnel_norm": [True, "no"]}}}
    with pytest.raises(SpecError, match=r"sweep\.strengths\.siftfunnel\.funnel_norm\[1\]: must be true or false"):
        spec_from_dict(d)


def test_the_spec_names_the_adapters_activations():
    torch_blocks = pytest.importorskip("sift_torch.models.blocks")
    assert FUNNEL_ACTIVATIONS == torch_blocks.ACTIVATIONS
    pytest.importorskip("tensorflow")
    keras_funnel = pytest.importorskip("sift_keras.models.funnel")
    assert FUNNEL_ACTIVATIONS == keras_funnel.ACTIVATIONS


def test_the_torch_backend_builds_the_authors_funnel(tiny_spec_dict):
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from sift_reference.backends import get_backend
    from sift_reference.runner import load_spec_data

    torch.manual_seed(0)
    ours = spec_from_dict(_spec(tiny_spec_dict))
    authors = spec_from_dict(_spec(tiny_spec_dict, funnel_activation="relu", funnel_norm=False))
    data, _ = load_spec_data(ours)
    backend = get_backend("torch")
    x = torch.from_numpy(data.private_eval.x[:16])
    with torch.no_grad():
        z_ours = backend._build(ours, ours.defences[1], data).eval().edge(x)
        z_auth = backend._build(authors, authors.defences[1], data).eval().edge(x)
    assert (z_auth >= 0).all() and not (z_ours >= 0).all()  # ReLU output against LeakyReLU
    # ours standardises each channel before the activation: no such output stage in the authors' funnel
    count = lambda m: sum(isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) for mod in m.modules())  # noqa: E731
    assert count(backend._build(ours, ours.defences[1], data).edge) == count(
        backend._build(authors, authors.defences[1], data).edge) + 1
    assert np.isfinite(z_auth.numpy()).all()
