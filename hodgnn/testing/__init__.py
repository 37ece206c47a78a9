"""Test support: nested-autograd references (:mod:`~hodgnn.testing.reference`, re-exporting the
library's :mod:`hodgnn.reference`), hand-made graphs (:mod:`~hodgnn.testing.graphs`), seeded base
MPNNs (:mod:`~hodgnn.testing.models`), reproducible cases (:mod:`~hodgnn.testing.cases`) and reusable
checks (:mod:`~hodgnn.testing.checks`). Library code never imports this package."""
