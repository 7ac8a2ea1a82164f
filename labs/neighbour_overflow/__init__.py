"""neighbour-overflow: a network node with more neighbours than gc_thresh3 allows."""
