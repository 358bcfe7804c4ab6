"""C4's own models (npyx ``CNNCerebellum``): log 3D autocorrelogram + aligned waveform (+ layer)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from phy_c4.config import FeatureSpec, SpecError
from phy_c4.families.base import ModelFamily, UnitData
from phy_c4.features import acg_3d_log, acg_3d_units, preprocess_waveform
from phy_c4.model.architecture import C4NetConfig
from phy_c4.model.bundle import Bundle
from phy_c4.model.ensemble import c4_inputs
from phy_c4.model.networks import C4Network
from phy_c4.status import Status, describe


class C4CnnFamily(ModelFamily):
    architecture = "c4_cnn"
    spec_type = FeatureSpec
    description = "C4 CNN: log 3D-ACG (10 x 101, x10) + 90-sample waveform (+ layer one-hot)"

    def network_config(self, network: dict[str, Any]) -> C4NetConfig:
        return C4NetConfig.from_dict(network)

    def new_network(self, config: C4NetConfig) -> C4Network:
        return C4Network(config)

    def check_spec(self, spec: FeatureSpec, config: C4NetConfig) -> None:
        if spec.acg.n_rate_bins != config.acg_rows or spec.acg.n_log_bins + 1 != config.acg_cols:
            raise SpecError(f"features.acg gives {spec.acg.n_rate_bins} x "
                            f"{spec.acg.n_log_bins + 1} inputs; the network reads "
                            f"{config.acg_rows} x {config.acg_cols}")
        if spec.waveform.n_samples != config.wvf_samples:
            raise SpecError(f"features.waveform gives {spec.waveform.n_samples} samples; the "
                            f"network reads {config.wvf_samples}")

    def unit_features(self, units: list[UnitData], spec: FeatureSpec, n_jobs: int | None
                      ) -> tuple[dict[int, dict[str, np.ndarray]], dict[int, str]]:
        failed: dict[int, str] = {}
        waves: dict[int, np.ndarray] = {}
        for unit in units:
            try:
                waves[unit.cluster_id] = preprocess_waveform(
                    unit.waveform, peak_sign=spec.waveform.peak_sign, fs=unit.waveform_fs,
                    spec=spec.waveform)
            except ValueError as error:
                failed[unit.cluster_id] = describe(Status.NO_WAVEFORM, str(error))
        candidates = [u for u in units if u.cluster_id in waves]
        rates = {u.fs for u in candidates}
        if len(rates) > 1:
            raise ValueError(f"units of one call must share a sample rate, got {sorted(rates)}")
        features: dict[int, dict[str, np.ndarray]] = {}
        if not candidates:
            return features, failed
        _, acgs, status = acg_3d_units([u.spike_times for u in candidates], rates.pop(),
                                       spec=spec.acg, min_spikes=spec.min_filtered_spikes,
                                       n_jobs=n_jobs)
        for unit, acg, state in zip(candidates, acgs, status, strict=True):
            if state != "ok":
                failed[unit.cluster_id] = describe(Status.NO_FEATURES, f"3D-ACG: {state}")
                continue
            log = acg_3d_log(acg, bin_ms=spec.acg.bin_ms, win_ms=spec.acg.win_ms,
                             n_log_bins=spec.acg.n_log_bins, start_log_ms=spec.acg.start_log_ms,
                             smooth_sd=spec.acg.log_smooth_sd)
            features[unit.cluster_id] = {"acg_3d_log": log, "waveform": waves[unit.cluster_id]}
        return features, failed

    def model_rows(self, bundle: Bundle, units: list[UnitData],
                   features: dict[int, dict[str, np.ndarray]]) -> torch.Tensor:
        ids = [u.cluster_id for u in units]
        layers = [u.layer for u in units] if bundle.use_layer else None
        return c4_inputs(bundle, np.stack([features[c]["acg_3d_log"] for c in ids]),
                         np.stack([features[c]["waveform"] for c in ids]), layer=layers,
                         acg_scale=bundle.spec.acg.scale)
