"""Config dataclasses, YAML includes, overrides and validation; every shipped config builds its model."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import yaml
from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims

from hodgnn.data.info import DatasetInfo
from hodgnn.nn import build_model
from hodgnn.train.config import (
    SECTION_CLASSES,
    ConfigError,
    ExperimentConfig,
    apply_overrides,
    config_from_dict,
    describe_config,
    field_comments,
    load_config,
    parse_override,
)
from hodgnn.train.defaults import DEFAULT_MODELS, default_experiments

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "configs"
DATASET_DIRS = ("zinc", "molbace", "moltox21", "molhiv", "peptides-func", "peptides-struct")
MODELS = ("hodgnn", "gin", "gine", "gcn", "gin_rwse", "gine_rwse", "gcn_rwse", "ds_gnn")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_every_field_has_a_default_and_a_comment():
    for cls in SECTION_CLASSES.values():
        comments = field_comments(cls)
        for f in dataclasses.fields(cls):
            assert f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING, (
                f.name
            )
            assert comments.get(f.name), f"{cls.__name__}.{f.name} has no comment"
    text = describe_config()
    for cls in SECTION_CLASSES.values():
        for f in dataclasses.fields(cls):
            assert f"  {f.name}: " in text


def test_defaults_round_trip_through_dict_and_yaml():
    config = ExperimentConfig()
    assert config_from_dict(config.to_dict()) == config
    assert config_from_dict(yaml.safe_load(config.to_yaml())) == config
    assert config.resolved_run_name == "synthetic-counts/hodgnn"


def test_includes_merge_deeply_in_order_and_file_wins(tmp_path):
    write(
        tmp_path / "base.yaml",
        "data: {name: zinc, batch_size: 16}\nmodel: {options: {hidden_channels: 8, dropout: 0.1}}\n",
    )
    write(tmp_path / "models" / "m.yaml", "model: {name: gin, options: {num_layers: 2, dropout: 0.3}}\n")
    path = write(
        tmp_path / "exp.yaml",
        "defaults: [base.yaml, models/m.yaml]\noptim: {lr: 0.01}\ndata: {batch_size: 4}\n",
    )
    config = load_config(path)
    assert config.data.name == "zinc" and config.data.batch_size == 4
    assert config.model.name == "gin"
    assert config.model.options == {"hidden_channels": 8, "dropout": 0.3, "num_layers": 2}
    assert config.optim.lr == 0.01 and config.optim.weight_decay == 0.0


def test_overrides_sections_shorthands_and_option_paths(tmp_path):
    path = write(tmp_path / "exp.yaml", "model: {name: gin, options: {hidden_channels: 8}}\n")
    config = load_config(
        path,
        [
            "epochs=7",
            "optim.lr=2e-3",
            "model.options.num_layers=3",
            "train.device=cpu",
            "root=/data",
            "lr=0.5",
        ],
    )
    assert config.train.epochs == 7 and config.train.device == "cpu"
    assert config.optim.lr == 0.5  # later overrides win
    assert config.model.options == {"hidden_channels": 8, "num_layers": 3}
    assert config.data.root == "/data"
    assert parse_override("warmup_epochs=3") == (["optim", "warmup_epochs"], 3)
    assert parse_override("data.options={num_graphs: 5}") == (["data", "options"], {"num_graphs": 5})
    # values are YAML scalars, never evaluated as code
    assert parse_override("run_name=__import__('os')")[1] == "__import__('os')"
    assert apply_overrides({}, ["train.seed=3"]) == {"train": {"seed": 3}}


@pytest.mark.parametrize(
    "raw, pieces",
    [
        ({"trian": {}}, ["'trian'", "data", "model", "optim", "train"]),
        ({"optim": {"lrr": 1.0}}, ["optim.lrr", "lr", "weight_decay", "warmup_epochs"]),
        ({"train": {"loss": "huber"}}, ["train.loss", "huber", "'auto'", "'l1'", "'bce'"]),
        ({"train": {"device": "tpu"}}, ["train.device", "'cpu'", "'cuda'"]),
        ({"train": {"epochs": "ten"}}, ["train.epochs", "'ten'", "int"]),
        ({"train": {"epochs": True}}, ["train.epochs", "int"]),
        ({"data": {"batch_size": 0}}, ["data.batch_size", ">= 1"]),
        ({"optim": {"min_lr": 1.0}}, ["optim.min_lr", "optim.lr"]),
        ({"model": {"options": [1, 2]}}, ["model.options", "dict"]),
        ({"data": ["zinc"]}, ["data", "mapping"]),
    ],
)
def test_malformed_config_names_key_and_allowed(raw, pieces):
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw, source="exp.yaml")
    message = str(info.value)
    for piece in pieces:
        assert piece in message, (piece, message)


def test_malformed_files_and_overrides(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad_yaml = write(tmp_path / "bad.yaml", "data: {name: [zinc\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad_yaml)
    write(tmp_path / "a.yaml", "defaults: b.yaml\n")
    write(tmp_path / "b.yaml", "defaults: [a.yaml]\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml")
    not_mapping = write(tmp_path / "list.yaml", "- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(not_mapping)
    with pytest.raises(ConfigError, match=r"unknown override key 'epoch'.*train\.epochs"):
        load_config(None, ["epoch=3"])
    with pytest.raises(ConfigError, match=r"ambiguous.*data\.name.*model\.name"):
        load_config(None, ["name=zinc"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["epochs"])
    with pytest.raises(ConfigError, match="optim.lrr"):
        load_config(None, ["optim.lrr=1"])


def test_embedded_default_is_hodgnn_and_gin_on_synthetic_counts():
    hod, gin = default_experiments(["epochs=2"])
    assert (hod.model.name, gin.model.name) == ("hodgnn", "gin")
    assert hod.model.options == DEFAULT_MODELS["hodgnn"] and gin.model.options == DEFAULT_MODELS["gin"]
    assert hod.data == gin.data and hod.data.name == "synthetic-counts"
    assert hod.train.epochs == gin.train.epochs == 2
    assert hod.optim == gin.optim == ExperimentConfig().optim


def _info(dataset_dir: str) -> DatasetInfo:
    atom, bond = len(get_atom_feature_dims()), len(get_bond_feature_dims())
    if dataset_dir == "zinc":
        return DatasetInfo("zinc", "regression", "mae", 1, "embedding", 28, "embedding", 4)
    if dataset_dir == "peptides-func":
        return DatasetInfo("peptides-func", "multilabel", "ap", 10, "atom", atom, "bond", bond, True)
    if dataset_dir == "peptides-struct":
        return DatasetInfo("peptides-struct", "regression", "mae", 11, "atom", atom, "bond", bond)
    tasks = 12 if dataset_dir == "moltox21" else 1
    task = "multilabel" if tasks > 1 else "binary"
    return DatasetInfo(f"ogbg-{dataset_dir}", task, "rocauc", tasks, "atom", atom, "bond", bond, True)


@pytest.mark.parametrize("dataset_dir", DATASET_DIRS)
def test_shipped_configs_load_and_build_their_model(dataset_dir):
    info = _info(dataset_dir)
    for model in MODELS:
        path = CONFIG_DIR / dataset_dir / f"{model}.yaml"
        config = load_config(path)
        assert config.model.name == model
        expected_name = "zinc" if dataset_dir == "zinc" else info.name
        assert config.data.name == expected_name
        assert config.train.loss in ("l1", "bce")
        build_model(config.model.name, info, **config.model.options)
    protocol = load_config(CONFIG_DIR / dataset_dir / "hodgnn.yaml")
    epochs = {"zinc": 2000, "peptides-func": 250, "peptides-struct": 250}.get(dataset_dir, 100)
    batch = {"molhiv": 128, "peptides-func": 200, "peptides-struct": 200}.get(dataset_dir, 32)
    assert (protocol.train.epochs, load_config(CONFIG_DIR / dataset_dir / "gin.yaml").data.batch_size) == (
        epochs,
        batch,
    )
    # HOD-GNN on Peptides trains on batches of 160 to fit the default memory budget (see its YAML)
    hodgnn_batch = 160 if dataset_dir.startswith("peptides") else batch
    assert protocol.data.batch_size == hodgnn_batch


def test_counting_configs_load_and_the_i2gnn_schedule_is_i2gnns():
    for path in sorted((CONFIG_DIR / "counting").glob("*.yaml")):
        assert load_config(path).data.name.startswith("counting-"), path
    i2gnn = load_config(CONFIG_DIR / "counting" / "i2gnn_schedule.yaml")
    # GraphPKU/I2GNN run_count.sh / .py: batch 256, 2000 epochs, lr 1e-3, ReduceLROnPlateau(0.9, 10, 1e-5)
    optim = i2gnn.optim
    assert (optim.schedule, optim.lr, optim.plateau_factor, optim.plateau_patience, optim.min_lr) == (
        "plateau",
        1e-3,
        0.9,
        10,
        1e-5,
    )
    assert (optim.warmup_epochs, optim.weight_decay, i2gnn.data.batch_size, i2gnn.train.epochs) == (
        0,
        0,
        256,
        2000,
    )


def test_literal_fields_list_their_values_in_help():
    hints = typing.get_type_hints(SECTION_CLASSES["train"])
    for value in typing.get_args(hints["loss"]):
        assert repr(value) in describe_config()


def test_float_fields_accept_yaml_exponent_strings(tmp_path):
    # YAML 1.1 reads "1e-3" (no dot) as a string; a float field still takes it as a number.
    path = write(tmp_path / "exp.yaml", "optim: {lr: 1e-3}\n")
    assert load_config(path, ["optim.min_lr=5e-6"]).optim.lr == pytest.approx(1e-3)
    assert load_config(path, ["optim.min_lr=5e-6"]).optim.min_lr == pytest.approx(5e-6)
    with pytest.raises(ConfigError, match="optim.lr"):
        load_config(path, ["optim.lr=fast"])
