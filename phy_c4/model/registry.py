"""Which network class a bundle's ``architecture`` names, so new model families plug in."""

from __future__ import annotations

from typing import Any

from torch import nn

from phy_c4.model.config import C4NetConfig
from phy_c4.model.networks import C4Network


def build_network(architecture: str, network: dict[str, Any]) -> nn.Module:
    """A fresh network (eval mode) for an architecture name and its config dict."""
    if architecture == "c4_cnn":
        module = C4Network(C4NetConfig.from_dict(network))
        module.labels = C4NetConfig.from_dict(network).labels
        return module.eval()
    if architecture == "c4_tabular":
        from phy_c4.model.tabular import TabularConfig, TabularNetwork

        config = TabularConfig.from_dict(network)
        module = TabularNetwork(config)
        module.labels = config.labels
        return module.eval()
    raise ValueError(f"unknown architecture {architecture!r}")
