"""Which kind of model a result is, for functions that take only some kinds."""

from __future__ import annotations

from typing import Any

from metareview.errors import InputError


def is_multilevel(fit: Any) -> bool:
    """Whether ``fit`` is a multilevel / multivariate model (``rma.mv``).

    Parameters
    ----------
    fit : object
        A fitted model.

    Returns
    -------
    bool
    """
    from metareview.models.multilevel import MultilevelMetaAnalysis

    return isinstance(fit, MultilevelMetaAnalysis)


def require_univariate(fit: Any, what: str) -> None:
    """Refuse a multilevel fit where only a univariate model (``rma``) is handled.

    Parameters
    ----------
    fit : object
        The fit handed to ``what``.
    what : str
        The function's name, for the message.

    Raises
    ------
    InputError
        If ``fit`` is a :class:`~metareview.models.multilevel.MultilevelMetaAnalysis`.
    """
    if is_multilevel(fit):
        raise InputError(f"{what} is not available for multilevel models (rma.mv) yet; it takes "
                         "a model from meta_analysis (rma)")


__all__ = ["is_multilevel", "require_univariate"]
