"""C4's semi-supervised recipe on feature tables: VAE pretraining, then an ensemble, calibrated.

1. One beta-VAE per modality (latent 10, KL weight annealed to ``beta``) on every unit that has
   the modality, labelled or not, labels unused.
2. Ensemble members: encoders start from the VAEs; each member trains on a stratified share of
   the labelled units (the rest are its held-out units), with class-balanced sampling and
   modality dropout (ACG/ISI hidden at random, so waveform-only units are served too).
3. Calibration: one temperature for the averaged probabilities, fitted on out-of-fold
   predictions (each unit predicted only by members that never saw it); expected calibration
   error before and after is recorded.

Deterministic for a seed; members already trained are reloaded from ``state_dir`` (resumable).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.nn import functional as F

from phy_c4._version import __version__
from phy_c4.config import BASE_LABELS, TableFeatureSpec
from phy_c4.families import attach
from phy_c4.model.bundle import Bundle
from phy_c4.model.device import resolve_device
from phy_c4.model.ensemble import ensemble_features
from phy_c4.model.table_network import MODALITIES, ModalityDecoder, TabularConfig, TabularNetwork
from phy_c4.training.metrics import expected_calibration_error
from phy_c4.training.tables import FeatureTable

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    labels: tuple[str, ...] = BASE_LABELS
    members: int = 10
    epochs: int = 60
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    vae_epochs: int = 40
    vae_lr: float = 1e-3
    beta: float = 5.0
    modality_dropout: float = 0.3
    holdout_fraction: float = 0.2
    hidden: int = 128
    seed: int = 0

    def network(self) -> TabularConfig:
        return TabularConfig(labels=tuple(self.labels), hidden=self.hidden)


def _split(x: np.ndarray, config: TabularConfig) -> list[np.ndarray]:
    out, start = [], 0
    for size in config.sizes:
        out.append(x[:, start : start + size])
        start += size
    return out


def pretrain_vaes(X: np.ndarray, config: TrainConfig, progress: Progress | None = None,
                  *, device: str | torch.device = "auto") -> dict[str, dict[str, torch.Tensor]]:
    """Encoder weights of one beta-VAE per modality, trained on the units that have it."""
    network_config = config.network()
    parts = _split(X, network_config)
    present = X[:, sum(network_config.sizes) :] > 0.5
    device = resolve_device(device)
    weights = {}
    for m, name in enumerate(MODALITIES):
        data = torch.from_numpy(parts[m][present[:, m]]).float().to(device)
        generator = torch.Generator().manual_seed(config.seed + 1000 * (m + 1))
        torch.manual_seed(config.seed + 1000 * (m + 1))
        encoder = TabularNetwork(network_config).encoders[name].to(device)
        decoder = ModalityDecoder(data.shape[1], network_config.hidden,
                                  network_config.d_latent,
                                  dropout=network_config.dropout).to(device)
        params = list(encoder.parameters()) + list(decoder.parameters())
        optimiser = torch.optim.Adam(params, lr=config.vae_lr)
        for epoch in range(config.vae_epochs):
            # KL weight annealed from ~0 to beta (sigmoid schedule, as C4's notebooks)
            beta = config.beta / (1 + math.exp(-10 * (epoch / max(1, config.vae_epochs) - 0.5)))
            order = torch.randperm(len(data), generator=generator).to(device)
            for start in range(0, len(data), 128):
                batch = data[order[start : start + 128]]
                mu, log_sigma = encoder(batch)
                z = mu + torch.exp(log_sigma) * torch.randn_like(mu)
                recon = F.mse_loss(decoder(z), batch, reduction="sum") / len(batch)
                kl = (0.5 * (mu**2 + torch.exp(2 * log_sigma) - 1) - log_sigma).sum() / len(batch)
                loss = recon + beta * kl * len(batch) / len(data)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            if progress is not None:
                progress(f"VAE {name}", epoch + 1, config.vae_epochs)
        weights[name] = {k: v.detach().cpu() for k, v in encoder.state_dict().items()}
    return weights


def _stratified_holdout(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    held = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        n = max(1, int(round(fraction * len(idx)))) if len(idx) > 1 else 0
        held[rng.choice(idx, n, replace=False)] = True
    return held


def train_member(X: np.ndarray, y: np.ndarray, train_rows: np.ndarray,
                 *, vae_weights: dict[str, dict[str, torch.Tensor]], config: TrainConfig,
                 seed: int, device: str | torch.device = "auto") -> dict[str, torch.Tensor]:
    """One classifier: VAE-initialised encoders, class-balanced batches, modality dropout."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    network_config = config.network()
    device = resolve_device(device)
    network = TabularNetwork(network_config)
    for name, state in vae_weights.items():
        network.encoders[name].load_state_dict(state)
    network.to(device).train()
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs)
    rows = np.flatnonzero(train_rows)
    counts = np.bincount(y[rows], minlength=network_config.n_classes)
    row_weights = 1.0 / counts[y[rows]]
    row_weights /= row_weights.sum()
    X_t = torch.from_numpy(X).float().to(device)
    y_t = torch.from_numpy(y).long().to(device)
    flag_start = sum(network_config.sizes)
    acg_slice = slice(network_config.sizes[0], flag_start)
    n_batches = max(1, math.ceil(len(rows) / config.batch_size))
    for _ in range(config.epochs):
        for _ in range(n_batches):  # class-balanced resampling, as C4's RandomOverSampler
            batch = rng.choice(rows, config.batch_size, p=row_weights)
            xb = X_t[batch].clone()
            drop = torch.from_numpy(rng.random(len(batch)) < config.modality_dropout).to(device)
            xb[drop, acg_slice] = 0.0
            xb[drop, flag_start + 1 :] = 0.0
            logits, _ = network(xb)
            loss = F.cross_entropy(logits, y_t[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        scheduler.step()
    network.eval()
    return {k: v.detach().cpu() for k, v in network.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def _member_probabilities(states: list[dict[str, torch.Tensor]], X: np.ndarray,
                          network_config: TabularConfig) -> np.ndarray:
    """(N, K, M) logits of each member (no temperature)."""
    network = TabularNetwork(network_config).eval()
    out = []
    with torch.inference_mode():
        for state in states:
            network.load_state_dict(state, strict=False)
            out.append(network(torch.from_numpy(X).float())[0].numpy())
    return np.stack(out, axis=2)


def fit_ensemble_temperature(logits: np.ndarray, y: np.ndarray, mask: np.ndarray) -> float:
    """Temperature minimising the NLL of the member-averaged probabilities on held-out pairs.

    ``logits`` (N, K, M); ``mask`` (N, M) true where member m never saw unit n.
    """
    usable = mask.any(axis=1)
    lg = torch.from_numpy(logits[usable]).double()
    mk = torch.from_numpy(mask[usable]).double()
    target = torch.from_numpy(y[usable]).long()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100)

    def closure():
        optimiser.zero_grad()
        probs = torch.softmax(lg / log_t.exp(), dim=1)
        mean = (probs * mk[:, None]).sum(2) / mk.sum(1, keepdim=True)
        loss = F.nll_loss(torch.log(mean + 1e-12), target)
        loss.backward()
        return loss

    optimiser.step(closure)
    return float(log_t.detach().exp())


def out_of_fold_probabilities(logits: np.ndarray, mask: np.ndarray, temperature: float
                              ) -> np.ndarray:
    probs = np.exp(logits / temperature - (logits / temperature).max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    weights = mask[:, None, :].astype(float)
    return (probs * weights).sum(2) / np.maximum(weights.sum(2), 1)


def train_bundle(table: FeatureTable, config: TrainConfig, *, name: str, version: str,
                 unlabelled: FeatureTable | None = None, state_dir: str | os.PathLike | None = None,
                 progress: Progress | None = None, provenance: dict | None = None,
                 device: str | torch.device = "auto") -> tuple[Bundle, dict]:
    """Train a tabular ensemble bundle on a table's labelled units (unlabelled ones pretrain),
    on ``device`` (auto: CUDA when torch sees it)."""
    labels = tuple(config.labels)
    labelled = table.labelled
    unknown = sorted(set(table.labels[labelled]) - set(labels))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the bundle's classes {list(labels)}")
    y_all = np.array([labels.index(lab) if lab in labels else -1 for lab in table.labels])
    counts = np.bincount(y_all[labelled], minlength=len(labels))
    empty = [labels[k] for k in np.flatnonzero(counts == 0)]
    if empty:
        raise ValueError(f"no labelled examples of {empty}; train with other classes (a variant)"
                         " or more data")
    X_all = table.inputs()
    pretrain = X_all if unlabelled is None else np.concatenate([X_all, unlabelled.inputs()])
    state = Path(state_dir) if state_dir else None
    vae_path = state / "vaes.safetensors" if state else None
    if vae_path is not None and vae_path.is_file():
        flat = load_file(vae_path)
        vaes = {m: {k.split("/", 1)[1]: v for k, v in flat.items() if k.startswith(m + "/")}
                for m in MODALITIES}
    else:
        vaes = pretrain_vaes(pretrain, config, progress, device=device)
        if vae_path is not None:
            vae_path.parent.mkdir(parents=True, exist_ok=True)
            save_file({f"{m}/{k}": v.contiguous() for m, s in vaes.items() for k, v in s.items()},
                      vae_path)
    X, y = X_all[labelled], y_all[labelled]
    states, held_masks = [], []
    for member in range(config.members):
        seed = config.seed * 1000 + member
        held = _stratified_holdout(y, config.holdout_fraction, np.random.default_rng(seed))
        member_path = state / f"member_{member}.safetensors" if state else None
        if member_path is not None and member_path.is_file():
            member_state = load_file(member_path)
        else:
            member_state = train_member(X, y, ~held, vae_weights=vaes, config=config, seed=seed,
                                        device=device)
            if member_path is not None:
                save_file({k: v.contiguous() for k, v in member_state.items()}, member_path)
        states.append(member_state)
        held_masks.append(held)
        if progress is not None:
            progress("ensemble", member + 1, config.members)
    logits = _member_probabilities(states, X, config.network())
    mask = np.stack(held_masks, axis=1)
    temperature = fit_ensemble_temperature(logits, y, mask)
    oof_raw = out_of_fold_probabilities(logits, mask, 1.0)
    oof_cal = out_of_fold_probabilities(logits, mask, temperature)
    usable = mask.any(axis=1)
    calibration = {
        "method": "temperature scaling of the member-averaged probabilities, fitted on "
                  "out-of-fold predictions",
        "temperature": temperature,
        "ece_before": expected_calibration_error(oof_raw[usable], y[usable]),
        "ece_after": expected_calibration_error(oof_cal[usable], y[usable]),
        "out_of_fold_units": int(usable.sum()),
    }
    weights = {k: torch.stack([s[k].float() for s in states]) for k in states[0]}
    manifest = {
        "name": name, "version": version, "labels": list(labels),
        "architecture": "c4_tabular", "network": config.network().to_dict(),
        "features": TableFeatureSpec(modalities=tuple(
            m for m, seen in zip(MODALITIES, table.present[labelled].any(axis=0), strict=True)
            if seen)).to_dict(),
        "n_members": config.members, "files": {}, "temperature": temperature,
        "training": {**asdict(config), "labels": list(labels), "phy_c4": __version__,
                     "units_labelled": int(labelled.sum()),
                     "units_pretraining": int(len(pretrain)),
                     "class_counts": {labels[k]: int(c) for k, c in enumerate(counts)}},
        "calibration": calibration,
        "provenance": provenance or {},
    }
    bundle = attach(Bundle(manifest=manifest, weights=weights))
    features = ensemble_features(bundle, torch.from_numpy(X))  # the labelled training units
    bundle.reference = {"features": torch.from_numpy(features.astype(np.float32)),
                        "labels": torch.from_numpy(y.astype(np.int64)),
                        **{f"input/{name}": torch.from_numpy(values[labelled].astype(np.float32))
                           for name, values in (("waveform", table.waveform),
                                                ("acg_1d", table.acg), ("isi", table.isi))}}
    return bundle, calibration
