"""C4's networks in plain torch: encoders returning latent Gaussians, and the classifier.

Layer names follow npyx 4.3.1's ``CNNCerebellum`` state dict so official weights load directly.
"""

from __future__ import annotations

import torch
from torch import distributions as dist
from torch import nn
from torch.nn import functional as F

from phy_c4.model.architecture import C4NetConfig


class AcgEncoder(nn.Module):
    """3D-ACG (1 x rows x cols) -> Normal(mu, sigma) over ``d_latent`` dims."""

    def __init__(self, config: C4NetConfig) -> None:
        super().__init__()
        c1, c2 = config.acg_channels
        pool = nn.AvgPool2d if config.acg_pool == "avg" else nn.MaxPool2d
        self.conv1 = nn.Conv2d(1, c1, kernel_size=(1, config.acg_kernel_cols))
        self.maxpool1 = pool(kernel_size=(2, 2))
        self.batchnorm1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=(config.acg_rows // 2, 1))
        self.maxpool2 = pool(kernel_size=(1, 2))
        self.batchnorm2 = nn.BatchNorm2d(c2)
        width = ((config.acg_cols - config.acg_kernel_cols + 1) // 2) // 2
        self.fc1 = nn.Linear(c2 * width, config.acg_hidden)
        self.fc2 = nn.Linear(config.acg_hidden, 2 * config.d_latent)
        self.dropout = nn.Dropout(config.acg_dropout)
        self.d_latent = config.d_latent

    def forward(self, x: torch.Tensor) -> dist.Normal:
        x = self.batchnorm1(F.relu(self.maxpool1(self.conv1(x))))
        x = self.batchnorm2(F.relu(self.maxpool2(self.conv2(x))))
        h = self.fc2(self.dropout(F.relu(self.fc1(torch.flatten(x, 1)))))
        mu, log_sigma = h[:, : self.d_latent], h[:, self.d_latent :]
        return dist.Normal(mu, torch.exp(log_sigma), validate_args=False)


class WaveformEncoder(nn.Module):
    """Waveform (samples) -> Normal(mu, sigma); ``encoder.{0,3,6}`` as npyx names them."""

    def __init__(self, config: C4NetConfig) -> None:
        super().__init__()
        h0, h1 = config.wvf_hidden
        self.encoder = nn.Sequential(
            nn.Linear(config.wvf_samples, h0), nn.GELU(), nn.Dropout(config.wvf_dropout),
            nn.Linear(h0, h1), nn.GELU(), nn.Dropout(config.wvf_dropout),
            nn.Linear(h1, 2 * config.d_latent),
        )
        self.d_latent = config.d_latent

    def forward(self, x: torch.Tensor) -> dist.Normal:
        h = self.encoder(x.reshape(x.shape[0], -1))
        mu, log_sigma = h[:, : self.d_latent], h[:, self.d_latent :]
        return dist.Normal(mu, torch.exp(log_sigma), validate_args=False)


class C4Network(nn.Module):
    """npyx ``CNNCerebellum``: encoder means -> batch norm -> 100 ReLU -> class logits.

    ``forward`` returns ``(logits, features)`` where ``features`` is the last layer's input, which
    the Laplace predictive needs.
    """

    def __init__(self, config: C4NetConfig) -> None:
        super().__init__()
        self.config = config
        self.acg_head = AcgEncoder(config)
        self.wvf_head = WaveformEncoder(config)
        n_latent = 2 * config.d_latent + (config.layer_dim if config.use_layer else 0)
        self.batch_norm = nn.BatchNorm1d(n_latent)
        self.fc1 = nn.Linear(n_latent, config.head_hidden)
        last_in = config.head_hidden + (config.layer_dim if config.use_layer else 0)
        self.fc2 = nn.Linear(last_in, config.n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        acg = x[:, : cfg.acg_flat].reshape(-1, 1, cfg.acg_rows, cfg.acg_cols)
        wvf = x[:, cfg.acg_flat : cfg.acg_flat + cfg.wvf_samples]
        latent = [self.acg_head(acg).mean, self.wvf_head(wvf).mean]
        layer = x[:, cfg.acg_flat + cfg.wvf_samples :] if cfg.use_layer else None
        if layer is not None:
            latent.append(layer)
        hidden = F.relu(self.fc1(self.batch_norm(torch.cat(latent, dim=1))))
        features = torch.cat((hidden, layer), dim=1) if layer is not None else hidden
        return self.fc2(features), features


def config_from_state_dict(state: dict[str, torch.Tensor], labels: tuple[str, ...] | None = None,
                           ) -> C4NetConfig:
    """Infer class count and layer use from weight shapes (npyx hard-codes them, wrongly twice)."""
    try:
        n_classes = int(state["fc2.weight"].shape[0])
        fc1_in = int(state["fc1.weight"].shape[1])
        d_latent = int(state["wvf_head.encoder.6.weight"].shape[0]) // 2
    except KeyError as error:
        raise ValueError(f"not a C4 CNNCerebellum state dict: missing {error}") from None
    use_layer = fc1_in == 2 * d_latent + 4
    if not use_layer and fc1_in != 2 * d_latent:
        raise ValueError(f"unexpected fc1 input width {fc1_in} for latent size {d_latent}")
    if labels is None:
        from phy_c4.config import BASE_LABELS, MLI_SPLIT_LABELS

        by_count = {len(BASE_LABELS): BASE_LABELS, len(MLI_SPLIT_LABELS): MLI_SPLIT_LABELS}
        if n_classes not in by_count:
            raise ValueError(f"no known C4 label set has {n_classes} classes")
        labels = by_count[n_classes]
    if len(labels) != n_classes:
        raise ValueError(f"{len(labels)} labels given for a model with {n_classes} outputs")
    return C4NetConfig(labels=tuple(labels), use_layer=use_layer, d_latent=d_latent,
                       wvf_hidden=(int(state["wvf_head.encoder.0.weight"].shape[0]),
                                   int(state["wvf_head.encoder.3.weight"].shape[0])),
                       head_hidden=int(state["fc1.weight"].shape[0]))
