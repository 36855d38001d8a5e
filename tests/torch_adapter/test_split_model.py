"""SplitModel keeps no autograd graph between forward passes."""

from __future__ import annotations

import gc
import weakref

import pytest

torch = pytest.importorskip("torch")
st = pytest.importorskip("sift_torch")


def _attached_tensors(model) -> list[str]:
    """Names of tensors stored as plain attributes of ``model`` or a submodule that still carry a grad_fn."""
    found = []
    for name, m in model.named_modules():
        for attr, value in vars(m).items():
            values = value if isinstance(value, (list, tuple)) else [value]
            found += [f"{name or 'model'}.{attr}" for v in values
                      if isinstance(v, torch.Tensor) and v.grad_fn is not None]
    return found


@pytest.mark.parametrize("defence", [None, "siftfunnel"])
@pytest.mark.parametrize("return_features", [False, True])
def test_forward_retains_no_graph(defence, return_features):
    model = st.build_split("cnn", defence=defence, in_channels=1, image_size=28, num_classes=10, width=8, seed=0)
    edge_outputs = []  # weak references: they must not keep the edge's output alive themselves
    model.edge.register_forward_hook(lambda module, args, output: edge_outputs.append(weakref.ref(output)))
    x = torch.rand(4, 1, 28, 28)
    out = model(x, return_features=return_features)
    logits, z = out if return_features else (out, None)
    assert logits.grad_fn is not None  # the caller's outputs do carry the graph
    assert _attached_tensors(model) == []
    # the stored features are the batch's features, only without the graph
    assert model.z.grad_fn is None and not model.z.requires_grad
    if z is not None:
        assert torch.equal(model.z, z.detach())
    # once the caller drops its outputs, nothing keeps the edge's graph-attached output alive
    assert edge_outputs[0]() is not None
    del out, logits, z
    gc.collect()
    assert edge_outputs[0]() is None


def test_features_from_the_model_still_train_the_edge():
    """A loss on the returned features reaches the edge's parameters (the detach does not cut the caller's graph)."""
    model = st.build_split("cnn", defence="siftfunnel", in_channels=1, image_size=28, num_classes=10, width=8, seed=0)
    logits, z = model(torch.rand(4, 1, 28, 28), return_features=True)
    (z.abs().mean() + logits.logsumexp(1).mean()).backward()
    grads = [p.grad for p in model.edge.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)
