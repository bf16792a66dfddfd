"""Long-tail methods, one module each, looked up by name in :data:`METHODS`."""

from zincfluor.methods import (
    balanced_mse,  # noqa: F401  (registers "balanced-mse")
    bcl,  # noqa: F401  (registers "bcl")
    bscl_sor,  # noqa: F401  (registers "bscl-sor")
    corn,  # noqa: F401  (registers "corn")
    cross_entropy,  # noqa: F401  (registers "ce")
    drw,  # noqa: F401  (registers "ce-drw")
    fds,  # noqa: F401  (registers "fds")
    gaussian_nll,  # noqa: F401  (registers "gaussian-nll")
    kps,  # noqa: F401  (registers "kps")
    ldam,  # noqa: F401  (registers "ldam-drw")
    lds,  # noqa: F401  (registers "lds")
    logit_adjustment,  # noqa: F401  ("balanced-softmax", "logit-adjust")
    logit_retargeting,  # noqa: F401  (registers "los", "lort")
    model_rebalancing,  # noqa: F401  (registers "more")
    rcl,  # noqa: F401  (registers "rcl", "bcl-rcl")
    reb_supcon,  # noqa: F401  (registers "reb-supcon")
)
from zincfluor.methods.base import (
    METHODS,
    LongTailMethod,
    LossOutput,
    MethodContext,
    Stage2Config,
)

__all__ = [
    "METHODS", "LongTailMethod", "LossOutput", "MethodContext", "Stage2Config", "build_method",
]


def build_method(name: str, context: MethodContext, **hparams) -> LongTailMethod:
    """Instantiate the method registered as ``name``; unknown hparams raise a TypeError."""
    return METHODS.get(name)(context, **hparams)
