"""Every closed form of the book, in three modules:

- :mod:`gradviz.theory.meanfield`: what mean-field theory predicts for a random
  MLP, the per-layer variances forward and backward, and the Gaussian
  expectations behind them;
- :mod:`gradviz.theory.selu`: SELU's moment map and its fixed point (chapter 05);
- :mod:`gradviz.theory.bounds`: slope bounds and the onset of saturation
  (chapter 02), and the probability that a ReLU network is dead at birth
  (chapter 04).

Every public name is available as ``gradviz.theory.<name>``.
"""

from .bounds import *  # noqa: F401,F403
from .bounds import __all__ as _bounds
from .meanfield import *  # noqa: F401,F403
from .meanfield import __all__ as _meanfield
from .selu import *  # noqa: F401,F403
from .selu import __all__ as _selu

__all__ = [*_meanfield, *_selu, *_bounds]
