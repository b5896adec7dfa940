"""redunet: white-box ReduNets built layer by layer in closed form from the MCR^2 objective."""

from ._classifier import NearestSubspace
from ._estimator import ReduNet
from ._lift import Lift1D, Lift2D
from ._objective import coding_rate, compression_rate, rate_reduction

__version__ = "0.1.0"

__all__ = [
    "ReduNet",
    "Lift1D",
    "Lift2D",
    "NearestSubspace",
    "coding_rate",
    "compression_rate",
    "rate_reduction",
    "__version__",
]
