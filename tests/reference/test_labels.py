"""Label placement on the privacy-utility plot: no label covers another label or a marker."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sift_reference.labels import annotate_points, place_labels


def _overlaps(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def test_lone_label_goes_upper_right_next_to_its_marker():
    box = place_labels([[100.0, 50.0]], [[30.0, 10.0]], marker_radius=4, gap=3)[0]
    np.testing.assert_allclose(box, [107, 57, 137, 67])


def test_labels_on_one_point_do_not_overlap():
    # Seven defences on exactly the same point: the worst case of the Fashion-MNIST plot.
    anchors = np.full((7, 2), 200.0)
    sizes = np.array([[40, 11], [25, 11], [60, 11], [30, 11], [35, 11], [28, 11], [45, 11]], dtype=float)
    boxes = place_labels(anchors, sizes, marker_radius=4)
    marker = [196, 196, 204, 204]
    for i, j in itertools.combinations(range(7), 2):
        assert not _overlaps(boxes[i], boxes[j]), (i, j)
    assert not any(_overlaps(b, marker) for b in boxes)
    np.testing.assert_allclose(boxes[:, 2] - boxes[:, 0], sizes[:, 0])
    np.testing.assert_allclose(boxes[:, 3] - boxes[:, 1], sizes[:, 1])


@settings(deadline=None, max_examples=40)
@given(st.lists(st.tuples(st.floats(0, 400), st.floats(0, 300), st.floats(5, 60)), min_size=1, max_size=12))
def test_spread_points_get_free_boxes(points):
    # 64 candidate boxes per label and at most 12 labels: at this density the greedy should
    # always find a free box (12 labels of width 60 on one point still do), never an overlap.
    anchors = np.array([(x, y) for x, y, _ in points])
    sizes = np.array([(w, 11.0) for _, _, w in points])
    boxes = place_labels(anchors, sizes)
    markers = [[x - 4, y - 4, x + 4, y + 4] for x, y in anchors]
    for i, j in itertools.combinations(range(len(boxes)), 2):
        assert not _overlaps(boxes[i], boxes[j])
    for b in boxes:
        assert not any(_overlaps(b, m) for m in markers)


def test_bad_sizes_name_the_argument():
    with pytest.raises(ValueError, match="sizes"):
        place_labels([[0, 0], [1, 1]], [[1, 1]])
    with pytest.raises(ValueError, match="sizes"):
        place_labels([[0, 0]], [[-1, 1]])
    with pytest.raises(ValueError, match="rings"):
        place_labels([[0, 0]], [[1, 1]], rings=0)


def test_drawn_labels_do_not_overlap_in_matplotlib():
    """Measured by matplotlib's own renderer after drawing, at a dpi other than the figure's."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    xs = [0.76, 0.765, 0.77, 0.75, 0.72, 0.48, 0.62]
    ys = [90.3, 90.29, 90.31, 90.14, 89.26, 84.9, 84.3]
    names = ["none", "bido", "mid", "nopeek", "noise", "siftfunnel", "dropout"]
    ax.scatter(xs, ys)
    anns = annotate_points(ax, xs, ys, names)
    assert [a.get_text() for a in anns] == names
    fig.set_dpi(150)  # as savefig(dpi=150) does: offsets in points must scale with the text
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ext = [a.get_window_extent(renderer) for a in anns]
    boxes = [(e.x0, e.y0, e.x1, e.y1) for e in ext]
    for i, j in itertools.combinations(range(len(boxes)), 2):
        assert not _overlaps(boxes[i], boxes[j]), (names[i], names[j])
    plt.close(fig)
    assert annotate_points(ax, [], [], []) == []
