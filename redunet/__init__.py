"""redunet: white-box ReduNets built layer by layer in closed form from the MCR^2 objective."""

from .classifier import NearestSubspace
from .estimator import ReduNet
from .lift import Lift1D, Lift2D
from .objective import coding_rate, compression_rate, rate_reduction

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
