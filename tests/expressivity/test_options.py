"""The command-line options shared by the expressivity commands: names, defaults, and the settings
dataclass read back from them."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from hodgnn.expressivity.brec import RPCConfig
from hodgnn.expressivity.options import add_common_options, add_config_options, config_from_args
from hodgnn.expressivity.separation import SeparationConfig


def test_common_options_and_their_defaults():
    parser = argparse.ArgumentParser()
    add_common_options(parser, default_models="gin,hod2", output="out.json", data_root_holds="brec/")
    args = parser.parse_args(["--set", "order=2", "--set", "k=2", "--threads", "3"])
    assert vars(args) == {
        "models": "gin,hod2",
        "data_root": None,
        "set": ["order=2", "k=2"],
        "output": "out.json",
        "markdown": None,
        "threads": 3,
    }
    without_data = argparse.ArgumentParser()
    add_common_options(without_data, default_models="gin", output="o.json")
    assert "data_root" not in vars(without_data.parse_args([]))


def test_config_options_round_trip_every_field():
    parser = argparse.ArgumentParser()
    add_config_options(parser, RPCConfig(), label="RPC")
    assert config_from_args(RPCConfig, parser.parse_args([])) == RPCConfig()
    changed = parser.parse_args(["--lr", "0.5", "--epochs", "3", "--dtype", "float64", "--bn-recalibration"])
    expected = {**asdict(RPCConfig()), "lr": 0.5, "epochs": 3, "dtype": "float64", "bn_recalibration": True}
    assert asdict(config_from_args(RPCConfig, changed)) == expected
    helps = {action.dest: action.help for action in parser._actions}
    assert helps["lr"] == "RPC lr (default: 0.0001)" and helps["bn_recalibration"] == "RPC bn_recalibration"

    unlabelled = argparse.ArgumentParser()
    add_config_options(unlabelled, SeparationConfig())
    assert {a.dest: a.help for a in unlabelled._actions}["seeds"] == "(default: 3)"
    assert config_from_args(SeparationConfig, unlabelled.parse_args(["--seeds", "5"])) == SeparationConfig(
        seeds=5
    )
