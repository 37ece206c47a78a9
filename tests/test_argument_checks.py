"""The shared argument checks (hodgnn/checks.py): each names the option and what it allows."""

from __future__ import annotations

import pytest

from hodgnn.checks import check_choice, check_dropout, check_int, check_positive_int_or_none


def test_argument_checks_name_the_option():
    check_choice("pooling", "sum", ("sum", "mean"))
    with pytest.raises(ValueError, match=r"unknown pooling 'max'; choose one of \['sum', 'mean'\]"):
        check_choice("pooling", "max", ("sum", "mean"))
    check_int("num_layers", 0, 0)
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"num_layers must be an integer >= 0"):
            check_int("num_layers", bad, 0)
    check_dropout(0.0)
    for bad in (1.0, -0.1, "0.1"):
        with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
            check_dropout(bad)


@pytest.mark.parametrize("value", [None, 1, 200])
def test_positive_int_or_none_accepts_none_and_positive_ints(value):
    check_positive_int_or_none("max_graphs", value)


@pytest.mark.parametrize("value", [0, -3, 2.5, "10", True, False])
def test_positive_int_or_none_refuses_the_rest(value):
    with pytest.raises(ValueError, match=r"^max_graphs must be a positive int or None, got "):
        check_positive_int_or_none("max_graphs", value)
