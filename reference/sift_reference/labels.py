"""Greedy placement of point labels so that they overlap neither each other nor the markers.

Defences that barely change the features (``none``, ``bido``, ``mid``) land on almost the same
point of the privacy-utility plot; labels written at one fixed offset then print over each
other. :func:`place_labels` works in display units (pixels) and knows nothing of matplotlib,
so it is tested on its own; :func:`annotate_points` measures the texts and applies it.
"""

from __future__ import annotations

import numpy as np

# Directions tried around each point, preferred first: upper right (where a reader looks),
# then the other sides.
_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Area of the intersection of boxes (x0, y0, x1, y1)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return float(w * h) if w > 0 and h > 0 else 0.0


def place_labels(anchors, sizes, *, marker_radius: float = 4.0, gap: float = 3.0,
                 step: float = 8.0, rings: int = 8) -> np.ndarray:
    """Choose a box for each label next to its anchor point.

    Parameters
    ----------
    anchors : (n, 2) array of point positions (pixels).
    sizes : (n, 2) array of label widths and heights (pixels).
    marker_radius : half-size of the square kept free around every anchor (the marker).
    gap : distance between a marker and the nearest label on the first ring.
    step : how much farther each further ring is.
    rings : number of rings tried.

    Returns
    -------
    (n, 4) array of boxes ``(x0, y0, x1, y1)``. Labels are placed in order; each takes the
    first candidate (ring by ring, direction by direction) that meets no placed label and
    no marker; when none is free it takes the candidate with the least overlapping area.
    """
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    if len(anchors) != len(sizes):
        raise ValueError(f"sizes: need one (width, height) per anchor, got {len(sizes)} for {len(anchors)}")
    if np.any(sizes < 0) or not np.all(np.isfinite(sizes)):
        raise ValueError("sizes: widths and heights must be finite and non-negative")
    if rings < 1:
        raise ValueError(f"rings: need at least 1, got {rings}")
    r = marker_radius
    markers = [np.array([x - r, y - r, x + r, y + r]) for x, y in anchors]
    placed: list[np.ndarray] = []
    for (x, y), (w, h) in zip(anchors, sizes):
        best, best_cost = None, np.inf
        for ring in range(rings):
            d = r + gap + ring * step
            for dx, dy in _DIRECTIONS:
                # The box touches the circle of radius d on the side the direction points to.
                cx = x + dx * (d + w / 2)
                cy = y + dy * (d + h / 2)
                box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
                cost = sum(_overlap(box, o) for o in placed) + sum(_overlap(box, m) for m in markers)
                if cost < best_cost:
                    best, best_cost = box, cost
                if cost == 0.0:
                    break
            if best_cost == 0.0:
                break
        placed.append(best)
    return np.array(placed).reshape(-1, 4)


def annotate_points(ax, xs, ys, texts, *, fontsize: float = 8) -> list:
    """Write ``texts`` beside the data points ``(xs, ys)`` of ``ax`` without overlaps.

    Call it after everything that changes the axes' limits or the figure's layout: the
    placement is computed in pixels. A label pushed beyond the first ring gets a thin leader
    line to its point.
    """
    texts = [str(t) for t in texts]
    if not texts:
        return []
    ax.get_xlim(), ax.get_ylim()  # settle pending autoscaling before reading transData
    renderer = ax.figure.canvas.get_renderer()
    sizes = []
    for t in texts:  # measure each text once, then remove it
        probe = ax.text(0, 0, t, fontsize=fontsize)
        ext = probe.get_window_extent(renderer)
        sizes.append((ext.width, ext.height))
        probe.remove()
    points = np.column_stack([xs, ys]).astype(np.float64)
    anchors = ax.transData.transform(points)
    boxes = place_labels(anchors, sizes)
    # Offsets in points scale with the figure when it is saved at another dpi; pixels would not.
    to_points = 72.0 / ax.figure.dpi
    anns = []
    for (x, y), (px, py), box, t in zip(points, anchors, boxes, texts):
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        # Distance from the point to the nearest edge of its label: 7 px on the first ring.
        far = np.hypot(max(box[0] - px, 0, px - box[2]), max(box[1] - py, 0, py - box[3])) > 12
        arrow = {"arrowstyle": "-", "lw": 0.5, "color": "0.5", "shrinkA": 0, "shrinkB": 4} if far else None
        anns.append(ax.annotate(t, (x, y), xytext=((cx - px) * to_points, (cy - py) * to_points),
                                textcoords="offset points",
                                fontsize=fontsize, ha="center", va="center", arrowprops=arrow))
    return anns
