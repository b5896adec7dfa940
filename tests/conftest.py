import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

try:
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, deadline=None, max_examples=30)
    settings.load_profile("ci")
except ImportError:  # pragma: no cover
    pass


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def labels_for(counts, names=None):
    """Labels with the given class counts, shuffled deterministically."""
    names = names if names is not None else list(range(len(counts)))
    y = np.concatenate([np.full(c, n, dtype=object if isinstance(n, str) else None)
                        for n, c in zip(names, counts)])
    return np.random.default_rng(0).permutation(y.astype(str) if isinstance(names[0], str) else y)
