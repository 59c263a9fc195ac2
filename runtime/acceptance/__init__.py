"""Acceptance on any host, without torch: parity of a graph or engine against eager fp32's outputs
(per-output cosine and max abs, per batch size) and the neighbour-overlap check."""
