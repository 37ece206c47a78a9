"""The embedded default experiment (hodgnn/train/defaults.py): HOD-GNN then GIN, same overrides."""

from __future__ import annotations

from hodgnn.train.config import load_config
from hodgnn.train.defaults import DEFAULT_MODELS, default_experiments


def test_default_experiments_carry_each_models_options_and_the_dataclass_defaults():
    configs = default_experiments()
    assert [c.model.name for c in configs] == ["hodgnn", "gin"]
    plain = load_config(None, [])
    for config in configs:
        assert config.model.options == DEFAULT_MODELS[config.model.name]
        assert config.data == plain.data and config.optim == plain.optim and config.train == plain.train


def test_overrides_apply_to_every_default_model():
    configs = default_experiments(["train.epochs=3", "optim.lr=0.01", "data.batch_size=8"])
    for config in configs:
        assert (config.train.epochs, config.optim.lr, config.data.batch_size) == (3, 0.01, 8)
        assert config.model.options == DEFAULT_MODELS[config.model.name]
