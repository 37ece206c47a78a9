"""Training: config dataclasses, the Lightning module, data loaders, metrics, the runner (seeds,
checkpoints, results, plots) and multi-process helpers."""
