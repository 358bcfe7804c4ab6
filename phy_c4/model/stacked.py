"""All ensemble members of a C4 network in one pass of batched matrix products.

Equivalent to running each member's ``C4Network`` in eval mode (tests compare them), but much
faster on CPU than a loop or ``vmap``: the 3D-ACG convolutions become einsums over every member
at once, and because C4 pools by averaging (a linear operation that commutes with the linear
convolution), the input patches are pooled before the convolution, which does 4x less work.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from phy_c4.model.architecture import C4NetConfig

_BN_EPS = 1e-5


def supports(config: C4NetConfig) -> bool:
    return config.acg_pool == "avg" and config.acg_rows % 2 == 0


def _bn_affine(w: dict[str, torch.Tensor], prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode batch norm as y = scale * x + shift, per member and channel."""
    scale = w[f"{prefix}.weight"] / torch.sqrt(w[f"{prefix}.running_var"] + _BN_EPS)
    return scale, w[f"{prefix}.bias"] - w[f"{prefix}.running_mean"] * scale


def _acg_means(w: dict[str, torch.Tensor], config: C4NetConfig, acg: torch.Tensor) -> torch.Tensor:
    """ACG encoder latent means for every member: (N, rows, cols) -> (M, N, d_latent).

    The first convolution's output is the one large tensor, and this path is memory-bound on
    it, so it is touched three times only: pool1 is applied to the input patches, the bias is
    fused into the matrix product, ReLU runs in place, pool2 (which commutes with conv2, whose
    kernel spans no lags) halves it, and both batch norms are folded into the next layer's
    weights. Intermediates keep members and channels last so every pass streams.
    """
    n = acg.shape[0]
    k = config.acg_kernel_cols
    w1 = w["acg_head.conv1.weight"]
    m, c1 = w1.shape[0], w1.shape[1]
    patches = acg.unfold(2, k, 1)  # (N, rows, positions, k)
    positions = patches.shape[2] // 2 * 2
    rows = config.acg_rows // 2
    pooled = patches[:, :, :positions].reshape(n, rows, 2, positions // 2, 2, k).mean(dim=(2, 4))
    h = torch.addmm(w["acg_head.conv1.bias"].reshape(-1), pooled.reshape(-1, k),
                    w1.reshape(m * c1, k).T)  # (N * rows * pos, M * c1)
    h.relu_()
    width = positions // 2 // 2 * 2
    h = h.reshape(n, rows, positions // 2, m * c1)[:, :, :width]
    h = h.reshape(n, rows, width // 2, 2, m, c1).mean(dim=3)  # pool (1, 2) before conv2
    h = h.permute(3, 0, 2, 1, 4).reshape(m, n * (width // 2), rows * c1)  # (M, N*pos, rows*c1)
    # conv2 as a matrix (M, rows*c1, c2), with batchnorm1 folded in
    w2 = w["acg_head.conv2.weight"][..., 0]  # (M, c2, c1, rows)
    c2 = w2.shape[1]
    w2 = w2.permute(0, 3, 2, 1).reshape(m, rows * c1, c2)
    scale1, shift1 = (t.repeat(1, rows) for t in _bn_affine(w, "acg_head.batchnorm1"))
    b2 = w["acg_head.conv2.bias"] + torch.einsum("mi,mio->mo", shift1, w2)
    h = torch.baddbmm(b2[:, None], h, w2 * scale1[:, :, None]).relu_()
    h = h.reshape(m, n, -1)  # (M, N, pos * c2)
    # fc1 expects torch's flatten order (c2, pos): reorder to (pos, c2), fold batchnorm2 in
    fc1 = w["acg_head.fc1.weight"]
    fc1 = fc1.reshape(m, fc1.shape[1], c2, width // 2).transpose(2, 3).reshape(m, -1, h.shape[2])
    scale2, shift2 = (t.repeat(1, width // 2) for t in _bn_affine(w, "acg_head.batchnorm2"))
    b_fc1 = w["acg_head.fc1.bias"] + torch.einsum("mi,mji->mj", shift2, fc1)
    h = torch.baddbmm(b_fc1[:, None], h, (fc1 * scale2[:, None, :]).transpose(1, 2)).relu_()
    out = torch.baddbmm(w["acg_head.fc2.bias"][:, None], h,
                        w["acg_head.fc2.weight"].transpose(1, 2))
    return out[..., : config.d_latent]


def _waveform_means(w: dict[str, torch.Tensor], config: C4NetConfig,
                    wvf: torch.Tensor) -> torch.Tensor:
    """Waveform encoder latent means for every member: (N, samples) -> (M, N, d_latent)."""
    h = torch.einsum("ns,mhs->mnh", wvf, w["wvf_head.encoder.0.weight"])
    h = F.gelu(h + w["wvf_head.encoder.0.bias"][:, None])
    h = F.gelu(torch.baddbmm(w["wvf_head.encoder.3.bias"][:, None], h,
                             w["wvf_head.encoder.3.weight"].transpose(1, 2)))
    out = torch.baddbmm(w["wvf_head.encoder.6.bias"][:, None], h,
                        w["wvf_head.encoder.6.weight"].transpose(1, 2))
    return out[..., : config.d_latent]


def stacked_forward(w: dict[str, torch.Tensor], config: C4NetConfig,
                    x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (M, N, K) and last-layer features (M, N, D) for input rows ``x`` (N, inputs)."""
    acg = x[:, : config.acg_flat].reshape(-1, config.acg_rows, config.acg_cols)
    wvf = x[:, config.acg_flat : config.acg_flat + config.wvf_samples]
    latent = [_acg_means(w, config, acg), _waveform_means(w, config, wvf)]
    m = latent[0].shape[0]
    layer = x[:, config.acg_flat + config.wvf_samples :] if config.use_layer else None
    if layer is not None:
        latent.append(layer.expand(m, *layer.shape))
    scale, shift = _bn_affine(w, "batch_norm")
    z = torch.cat(latent, dim=2) * scale[:, None] + shift[:, None]
    hidden = F.relu(torch.baddbmm(w["fc1.bias"][:, None], z, w["fc1.weight"].transpose(1, 2)))
    features = hidden if layer is None else torch.cat((hidden, layer.expand(m, *layer.shape)), 2)
    logits = torch.baddbmm(w["fc2.bias"][:, None], features, w["fc2.weight"].transpose(1, 2))
    return logits, features
