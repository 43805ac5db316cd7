"""A tensor plug-in module that reads every tensor through its strides, written for the tests:
every operation of every rank (tests/data/layout_role_bugs.py's code with no bug planted)."""

from __future__ import annotations

from tests.data.layout_role_bugs import honest

for _rank in (1, 2, 3):
    for _op in (
        "conv{r}d",
        "conv_transpose{r}d",
        "conv{r}d_backward",
        "conv_transpose{r}d_backward",
    ):
        _name = _op.format(r=_rank)
        globals()[_name] = honest(_name)
