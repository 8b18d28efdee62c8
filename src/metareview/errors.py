"""The one exception type for bad user input."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: says where and why.

    The message is a single line naming the file, row, study and column where known, e.g.
    ``trials.csv row 7 (Smith 2004), column sd1i: negative standard deviation (-2.1)``.
    The CLI prints it and exits with status 2; library code raises it and never prints.

    Parameters
    ----------
    message : str
        The one-line message, worded in the library's terms (parameter names, not command-line
        options).
    parameter : str, optional
        The library parameter that would fix the problem, when there is one, so that a front end
        can word a hint in its own terms (the CLI names the option that sets it).
    """

    def __init__(self, message: str, *, parameter: str | None = None):
        super().__init__(message)
        self.parameter = parameter


def where(
    source: str | None = None,
    row: int | None = None,
    study: str | None = None,
    column: str | None = None,
) -> str:
    """Format the location part of an :class:`InputError` message.

    Parameters
    ----------
    source : str, optional
        File name (or other description of where the data came from).
    row : int, optional
        1-based data row number as a spreadsheet user counts it (header is row 1, so the
        first data row is row 2).
    study : str, optional
        Study label.
    column : str, optional
        Column name.
    """
    parts = []
    head = source or "data"
    if row is not None:
        head += f" row {row}"
    if study is not None and study != "":
        head += f" ({study})"
    parts.append(head)
    if column is not None:
        parts.append(f"column {column}")
    return ", ".join(parts)
