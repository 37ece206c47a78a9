"""Expressivity benchmarks: BREC (RPC protocol), EXP/SR25 separation, substructure counting.

Command-line entry points (exposed by :mod:`hodgnn.cli`): :func:`hodgnn.expressivity.brec_cli.main`
(``hodgnn brec``), :func:`hodgnn.expressivity.separation.main` (``hodgnn separation``) and
:func:`hodgnn.expressivity.counting.main` (``hodgnn counting``).
"""
