"""The table-feature family (the shipped default): the C4-database tables' waveform window,
1-D ACG and ISI histogram, each computed from spike times with the tables' own conventions."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from phy_c4.config import SpecError, TableFeatureSpec
from phy_c4.families.base import ModelFamily, UnitData
from phy_c4.features.table_features import acg_1d, isi_histogram, model_rows, table_waveform
from phy_c4.model.bundle import Bundle
from phy_c4.model.table_network import TabularConfig, TabularNetwork
from phy_c4.status import Status, describe

INPUT_NAMES = ("waveform", "acg_1d", "isi")


class TableFamily(ModelFamily):
    architecture = "c4_tabular"
    spec_type = TableFeatureSpec
    description = ("C4-database table features: 75-sample waveform window, 1-D ACG (+-100 ms, "
                   "1-ms bins), ISI histogram (1-ms bins, 0-100 ms)")

    def network_config(self, network: dict[str, Any]) -> TabularConfig:
        return TabularConfig.from_dict(network)

    def new_network(self, config: TabularConfig) -> TabularNetwork:
        return TabularNetwork(config)

    def check_spec(self, spec: TableFeatureSpec, config: TabularConfig) -> None:
        if tuple(spec.sizes) != tuple(config.sizes):
            raise SpecError(f"features give inputs of widths {spec.sizes} (waveform, ACG, "
                            f"ISI); the network reads {config.sizes}")

    def unit_features(self, units: list[UnitData], spec: TableFeatureSpec, n_jobs: int | None
                      ) -> tuple[dict[int, dict[str, np.ndarray]], dict[int, str]]:
        failed: dict[int, str] = {}
        features: dict[int, dict[str, np.ndarray]] = {}
        for unit in units:
            try:
                wave = table_waveform(unit.waveform, unit.waveform_fs, spec=spec.waveform)
            except ValueError as error:
                failed[unit.cluster_id] = describe(Status.NO_WAVEFORM, str(error))
                continue
            features[unit.cluster_id] = {
                "waveform": wave,
                "acg_1d": acg_1d(unit.spike_times, unit.fs, spec,
                                 min_spikes=spec.min_filtered_spikes),
                "isi": isi_histogram(unit.spike_times, unit.fs, spec,
                                     min_spikes=spec.min_filtered_spikes)}
        return features, failed

    def model_rows(self, bundle: Bundle, units: list[UnitData],
                   features: dict[int, dict[str, np.ndarray]]) -> torch.Tensor:
        columns = (np.stack([features[u.cluster_id][name] for u in units])
                   for name in INPUT_NAMES)
        return torch.from_numpy(model_rows(*columns, spec=bundle.spec))
