"""Ensemble prediction: every member in one batched computation (stacked weights + vmap).

``predict_raw`` is the low-level check against npyx (its row layout in, per-member softmax out);
``predict`` is what the pipeline uses: averaged probabilities, type, confidence, confidence ratio,
votes, with units under the confidence-ratio threshold reported as unclassified.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call, vmap

from phy_c4.config import LAYER_NAMES, is_unnamed_output
from phy_c4.model.architecture import C4NetConfig
from phy_c4.model.bundle import Bundle
from phy_c4.model.device import resolve_device
from phy_c4.model.laplace import probit_probabilities
from phy_c4.model.networks import C4Network
from phy_c4.model.stacked import stacked_forward, supports
from phy_c4.result import Prediction
from phy_c4.status import UNCLASSIFIED

_ACTIVATION_BUDGET = 16_000_000  # floats per chunk of (units x members) activations


def member_forward(bundle: Bundle, inputs: torch.Tensor, device: str | torch.device = "cpu"
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (M, N, K) and last-layer features (M, N, D) of all members at once, computed on
    ``device`` and returned on the CPU."""
    device = resolve_device(device)
    params = {key: value.float().to(device) for key, value in bundle.weights.items()}
    network = bundle.new_network().to(device)
    if isinstance(network, C4Network) and supports(network.config):
        config = network.config

        def run(x: torch.Tensor):
            return stacked_forward(params, config, x)
    else:
        def one_member(member_params: dict[str, torch.Tensor], x: torch.Tensor):
            return functional_call(network, member_params, (x,), strict=False)

        def run(x: torch.Tensor):
            return vmap(one_member, in_dims=(0, None))(params, x)

    n_units = inputs.shape[0]
    per_unit = max(1, _activations_per_unit(network) * bundle.n_members)
    chunk = max(1, min(n_units, _ACTIVATION_BUDGET // per_unit))
    logits, features = [], []
    with torch.inference_mode():
        for start in range(0, n_units, chunk):
            out = run(inputs[start : start + chunk].to(device))
            logits.append(out[0].cpu())
            features.append(out[1].cpu())
    return torch.cat(logits, dim=1), torch.cat(features, dim=1)


def _activations_per_unit(network: torch.nn.Module) -> int:
    if isinstance(network, C4Network):
        config = network.config
        return config.acg_channels[0] * config.acg_rows * config.acg_cols // 4 + 2000
    return 2000


def _member_probabilities(bundle: Bundle, inputs: torch.Tensor, calibrated: bool,
                          *, device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Per-member probabilities (N, K, M) and the ensemble-mean last-layer input (N, D)."""
    if inputs.shape[0] == 0:
        return np.zeros((0, len(bundle.labels), bundle.n_members)), np.zeros((0, 0))
    logits, features = member_forward(bundle, inputs, device)
    mean_features = features.double().mean(dim=0).numpy()
    if calibrated:
        factors = bundle.factors
        if factors is not None:
            probs = probit_probabilities(logits, factors.logit_variance(features))
        elif "temperature" in bundle.manifest:
            probs = torch.softmax(logits.double() / float(bundle.manifest["temperature"]), dim=-1)
        else:
            raise ValueError(f"bundle {bundle.name} has no calibration; use calibrated=False")
    else:
        probs = torch.softmax(logits.double(), dim=-1)
    return probs.permute(1, 2, 0).numpy(), mean_features


def npyx_rows_to_inputs(bundle: Bundle, X: np.ndarray) -> torch.Tensor:
    """npyx's row layout (2010 log-ACG x10 values, 90 waveform, [4 layer]) -> network input."""
    config = bundle.network_config
    X = np.asarray(X, dtype=np.float32)
    n_full = config.acg_rows * (2 * (config.acg_cols - 1) + 1)
    expected = n_full + config.wvf_samples + (config.layer_dim if config.use_layer else 0)
    if X.ndim != 2 or X.shape[1] != expected:
        raise ValueError(f"X must be (units, {expected}) for bundle {bundle.name}, got {X.shape}")
    acg = X[:, :n_full].reshape(-1, config.acg_rows, 2 * (config.acg_cols - 1) + 1)
    positive = acg[:, :, config.acg_cols - 1 :].reshape(X.shape[0], -1)
    return torch.from_numpy(np.concatenate([positive, X[:, n_full:]], axis=1))


def predict_raw(bundle: Bundle, X: np.ndarray, calibrated: bool = False) -> np.ndarray:
    """Per-member probabilities (units, classes, members) from npyx's row layout ``X``."""
    if not isinstance(bundle.network_config, C4NetConfig):
        raise ValueError("predict_raw takes npyx's 3D-ACG row layout; this bundle is "
                         f"{bundle.architecture!r}")
    return _member_probabilities(bundle, npyx_rows_to_inputs(bundle, X), calibrated)[0]


def layer_one_hot(layer: np.ndarray | list | None, n_units: int) -> np.ndarray:
    """Layer names or indices (unknown, GCL, PCL, ML; npyx's aliases too) -> (N, 4) one-hot."""
    aliases = {"": 0, "0": 0, "unknown": 0, "nan": 0, "none": 0,
               "gcl": 1, "grc_layer": 1, "pcl": 2, "pkc_layer": 2, "ml": 3, "ml_layer": 3}
    if layer is None:
        return np.eye(len(LAYER_NAMES), dtype=np.float32)[np.zeros(n_units, dtype=int)]
    values = np.asarray(layer)
    if values.ndim == 2:
        if values.shape != (n_units, len(LAYER_NAMES)):
            raise ValueError(f"layer one-hot must be ({n_units}, 4), got {values.shape}")
        return values.astype(np.float32)
    if values.shape != (n_units,):
        raise ValueError(f"layer must have one entry per unit ({n_units}), got {values.shape}")
    indices = []
    for value in values:
        key = str(value).strip().lower()
        if key in aliases:
            indices.append(aliases[key])
        elif key.isdigit() and int(key) < len(LAYER_NAMES):
            indices.append(int(key))
        else:
            raise ValueError(f"unknown layer {str(value)!r}; use one of {LAYER_NAMES}")
    return np.eye(len(LAYER_NAMES), dtype=np.float32)[np.asarray(indices, dtype=int)]


def c4_inputs(bundle: Bundle, acg_log: np.ndarray, waveforms: np.ndarray,
              *, layer: np.ndarray | list | None = None, acg_scale: float) -> torch.Tensor:
    """Network input rows from log 3D-ACGs (N, rows, 2*cols-1), unscaled, and waveforms (N, 90);
    ``acg_scale`` is the feature spec's (C4: 10)."""
    config = bundle.network_config
    acg = np.asarray(acg_log, dtype=np.float64)
    wvf = np.asarray(waveforms, dtype=np.float64)
    if acg.ndim != 3 or acg.shape[1:] != (config.acg_rows, 2 * config.acg_cols - 1):
        raise ValueError(f"acg_log must be (units, {config.acg_rows}, {2 * config.acg_cols - 1}),"
                         f" got {acg.shape}")
    if wvf.ndim != 2 or wvf.shape != (acg.shape[0], config.wvf_samples):
        raise ValueError(f"waveforms must be ({acg.shape[0]}, {config.wvf_samples}), "
                         f"got {wvf.shape}")
    if not (np.all(np.isfinite(acg)) and np.all(np.isfinite(wvf))):
        raise ValueError("features contain NaN or infinite values")
    positive = acg[:, :, config.acg_cols - 1 :].reshape(acg.shape[0], -1) * acg_scale
    parts = [positive, wvf]
    if config.use_layer:
        parts.append(layer_one_hot(layer, acg.shape[0]))
    elif layer is not None:
        raise ValueError(f"bundle {bundle.name} does not use layer input")
    rows = np.concatenate(parts, axis=1).astype(np.float32)
    return torch.from_numpy(rows)


def summarise(labels: tuple[str, ...], raw: np.ndarray, threshold: float) -> Prediction:
    """Average members and derive type, confidence, ratio and votes (C4's definitions)."""
    mean = raw.mean(axis=2)
    n_units, n_classes, n_members = raw.shape
    if n_units == 0:
        empty = np.zeros(0)
        return Prediction(labels=labels, probabilities=mean, raw=raw, predicted=np.array([],
                                                                                         dtype=object),
                          cell_type=np.array([], dtype=object), confidence=empty, ratio=empty,
                          votes=empty.astype(int),
                          n_members=n_members, threshold=threshold)
    order = np.argsort(-mean, axis=1, kind="stable")
    best = order[:, 0]
    top = mean[np.arange(n_units), best]
    second = mean[np.arange(n_units), order[:, 1]] if n_classes > 1 else np.zeros(n_units)
    with np.errstate(divide="ignore"):
        ratio = np.where(second > 0, top / np.where(second > 0, second, 1), np.inf)
    votes = (raw.argmax(axis=1) == best[:, None]).sum(axis=1)
    predicted = np.asarray([labels[i] for i in best], dtype=object)
    named = np.array([not is_unnamed_output(label) for label in predicted], dtype=bool)
    cell_type = np.where((ratio >= threshold) & named, predicted, UNCLASSIFIED).astype(object)
    return Prediction(labels=labels, probabilities=mean, raw=raw, predicted=predicted,
                      cell_type=cell_type, confidence=top, ratio=ratio, votes=votes,
                      n_members=n_members,
                      threshold=threshold)


def predict(bundle: Bundle, acg_log: np.ndarray, waveforms: np.ndarray,
            *, layer: np.ndarray | list | None = None, threshold: float = 2.0,
            calibrated: bool | None = None, device: str | torch.device = "cpu") -> Prediction:
    """Classify units from their log 3D-ACGs and preprocessed waveforms with a C4 bundle.

    ``calibrated`` defaults to using the Laplace predictive when the bundle carries it.
    """
    if not threshold >= 1.0:
        raise ValueError(f"confidence-ratio threshold must be >= 1, got {threshold}")
    use_calibration = is_calibrated(bundle) if calibrated is None else calibrated
    inputs = c4_inputs(bundle, acg_log, waveforms, layer=layer, acg_scale=bundle.spec.acg.scale)
    raw, features = _member_probabilities(bundle, inputs, use_calibration, device=device)
    prediction = summarise(bundle.labels, raw, threshold)
    prediction.features = features
    return prediction


def is_calibrated(bundle: Bundle) -> bool:
    return bundle.calibration is not None or "temperature" in bundle.manifest


def predict_inputs(bundle: Bundle, inputs: torch.Tensor, *, threshold: float = 2.0,
                   calibrated: bool | None = None, device: str | torch.device = "cpu"
                   ) -> Prediction:
    """Classify ready-made network input rows (any architecture) on ``device``."""
    use_calibration = is_calibrated(bundle) if calibrated is None else calibrated
    raw, features = _member_probabilities(bundle, inputs, use_calibration, device=device)
    prediction = summarise(bundle.labels, raw, threshold)
    prediction.features = features
    return prediction


def ensemble_features(bundle: Bundle, inputs: torch.Tensor) -> np.ndarray:
    """(N, D) the ensemble-mean input of the last layer: the model's own feature space."""
    return _member_probabilities(bundle, inputs, calibrated=False)[1]


def novelty(bundle: Bundle, prediction: Prediction, k: int = 5) -> np.ndarray:
    """How unlike the training units each unit is: the mean distance to its ``k`` nearest
    labelled training units in the model's feature space, over the same for the training
    units themselves (median, leave-one-out), times (1 + the members' disagreement: mean
    total-variation distance of each member's probabilities from the ensemble mean). About 1
    for units like the training data; NaN when the bundle carries no reference."""
    n_units = prediction.raw.shape[0]
    if bundle.reference is None or n_units == 0 or prediction.features is None:
        return np.full(n_units, np.nan)
    train = bundle.reference["features"].double().numpy()
    knn = _mean_knn(prediction.features, train, k)
    own = _mean_knn(train, train, k, leave_one_out=True)
    raw = prediction.raw
    mean = raw.mean(axis=2, keepdims=True)
    disagreement = 0.5 * np.abs(raw - mean).sum(axis=1).mean(axis=1)
    return knn / np.median(own) * (1.0 + disagreement)


def _mean_knn(points: np.ndarray, reference: np.ndarray, k: int,
              *, leave_one_out: bool = False) -> np.ndarray:
    squared = ((points ** 2).sum(axis=1)[:, None] + (reference ** 2).sum(axis=1)[None, :]
               - 2.0 * points @ reference.T)  # (n, m) without an (n, m, d) array
    distances = np.sqrt(np.maximum(squared, 0.0))
    if leave_one_out:
        np.fill_diagonal(distances, np.inf)
    k = min(k, reference.shape[0] - int(leave_one_out))
    return np.sort(distances, axis=1)[:, :k].mean(axis=1)
