"""Last-layer Kronecker-factored Laplace calibration, as C4 uses it, in plain torch.

npyx calibrates each ensemble member with laplace-torch 0.1a2 (``subset_of_weights="last_layer"``,
``hessian_structure="kron"``), fits a scalar prior precision by maximising the marginal likelihood
(Adam, lr 0.1, 100 steps on log delta from delta = 1), and predicts with the GLM predictive and the
probit link. With the Hessian's eigen-decomposition, all of it is a few tensor products:

- posterior precision of the weights W (K x D): Q1 diag(l1) Q1' (x) Q2 diag(l2) Q2' + delta I;
  of the bias b: Qb diag(lb) Qb' + delta I (plus the stored ``deltas``);
- objective: 1/2 [sum log(l1 l2' + dW + delta) + sum log(lb + db + delta) - P log delta
  + delta |theta|^2], with P = K D + K and theta = (W, b);
- predictive variance of logit k at features phi: sum_i Q1[k,i]^2 sum_j (Q2'phi)_j^2 /
  (l1_i l2_j + dW + delta) + sum_i Qb[k,i]^2 / (lb_i + db + delta);
- probabilities: softmax(f_k / sqrt(1 + pi v_k / 8)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(kw_only=True)
class KronHessian:
    """One member's last-layer Hessian factors (npyx's ``hessians.pt`` entry) and its prior."""

    out_values: torch.Tensor  # l1 (K,)
    in_values: torch.Tensor  # l2 (D,)
    bias_values: torch.Tensor  # lb (K,)
    out_vectors: torch.Tensor  # Q1 (K, K)
    in_vectors: torch.Tensor  # Q2 (D, D)
    bias_vectors: torch.Tensor  # Qb (K, K)
    deltas: torch.Tensor  # (2,) added to the weight and bias blocks
    damping: bool = False

    @classmethod
    def from_npyx(cls, entry: dict) -> KronHessian:
        """Parse one element of npyx's ``hessians.pt`` list, with shape checks."""
        try:
            (l1, l2), (lb,) = entry["eigenvalues"]
            (q1, q2), (qb,) = entry["eigenvectors"]
            deltas = torch.as_tensor(entry.get("deltas", torch.zeros(2)), dtype=torch.float64)
            damping = bool(entry.get("damping", False))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"malformed Kronecker Hessian entry: {error}") from None
        def tensor(t: Any) -> torch.Tensor:
            return torch.as_tensor(t, dtype=torch.float64)

        hessian = cls(out_values=tensor(l1), in_values=tensor(l2), bias_values=tensor(lb),
                      out_vectors=tensor(q1), in_vectors=tensor(q2), bias_vectors=tensor(qb),
                      deltas=deltas.reshape(-1), damping=damping)
        hessian.check()
        return hessian

    def check(self, n_classes: int | None = None, n_features: int | None = None) -> None:
        k, d = self.out_values.numel(), self.in_values.numel()
        shapes_ok = (
            self.out_vectors.shape == (k, k) and self.in_vectors.shape == (d, d)
            and self.bias_values.shape == (k,) and self.bias_vectors.shape == (k, k)
            and self.deltas.numel() == 2
        )
        if not shapes_ok:
            raise ValueError("Kronecker Hessian factors have inconsistent shapes")
        wrong_k = n_classes is not None and k != n_classes
        if wrong_k or (n_features is not None and d != n_features):
            raise ValueError(
                f"Hessian is for a {k} x {d} last layer, model has {n_classes} x {n_features}"
            )
        for tensor in (self.out_values, self.in_values, self.bias_values, self.out_vectors,
                       self.in_vectors, self.bias_vectors):
            if not torch.isfinite(tensor).all():
                raise ValueError("Hessian contains NaN or infinite values")

    def weight_eigenvalues(self, prior: torch.Tensor) -> torch.Tensor:
        """Eigenvalues (K, D) of the weight block's posterior precision."""
        if self.damping:
            root = torch.sqrt(self.deltas[0] + prior)
            return torch.outer(self.out_values + root, self.in_values + root)
        return torch.outer(self.out_values, self.in_values) + self.deltas[0] + prior

    def bias_eigenvalues(self, prior: torch.Tensor) -> torch.Tensor:
        return self.bias_values + self.deltas[1] + prior


def neg_log_marglik(hessian: KronHessian, theta_sq_norm: torch.Tensor, n_params: int,
                    *, prior: torch.Tensor) -> torch.Tensor:
    """laplace-torch's negative log marginal likelihood with zero data loss (as npyx fits it)."""
    log_det_posterior = (torch.log(hessian.weight_eigenvalues(prior)).sum()
                         + torch.log(hessian.bias_eigenvalues(prior)).sum())
    log_det_prior = n_params * torch.log(prior)
    return 0.5 * (log_det_posterior - log_det_prior + prior * theta_sq_norm)


def fit_prior_precision(hessian: KronHessian, weight: torch.Tensor, bias: torch.Tensor,
                        *, steps: int = 100, lr: float = 0.1, init: float = 1.0) -> float:
    """npyx's ``optimize_prior_precision(method="marglik")``: Adam on log delta, fixed steps."""
    theta_sq_norm = (weight.double() ** 2).sum() + (bias.double() ** 2).sum()
    n_params = weight.numel() + bias.numel()
    log_prior = torch.tensor(math.log(init), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([log_prior], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = neg_log_marglik(hessian, theta_sq_norm, n_params, prior=log_prior.exp())
        loss.backward()
        optimizer.step()
    return float(log_prior.detach().exp())


@dataclass(kw_only=True)
class PredictiveFactors:
    """What the probit predictive needs, precomputed once per member (stacked over members)."""

    out_vectors_sq: torch.Tensor  # (M, K, K): Q1[k, i]^2
    in_vectors: torch.Tensor  # (M, D, D): Q2
    inv_weight_eigs: torch.Tensor  # (M, K, D): 1 / posterior eigenvalues
    bias_var: torch.Tensor  # (M, K): diag of the bias block's covariance

    @classmethod
    def from_hessians(cls, hessians: list[KronHessian], priors: list[float]) -> PredictiveFactors:
        out_sq, q2, inv_w, bias_var = [], [], [], []
        for hessian, prior in zip(hessians, priors, strict=True):
            delta = torch.tensor(prior, dtype=torch.float64)
            out_sq.append(hessian.out_vectors ** 2)
            q2.append(hessian.in_vectors)
            inv_w.append(1.0 / hessian.weight_eigenvalues(delta))
            bias_var.append((hessian.bias_vectors ** 2) @ (1.0 / hessian.bias_eigenvalues(delta)))
        return cls(out_vectors_sq=torch.stack(out_sq), in_vectors=torch.stack(q2),
                   inv_weight_eigs=torch.stack(inv_w), bias_var=torch.stack(bias_var))

    def logit_variance(self, features: torch.Tensor) -> torch.Tensor:
        """Diagonal of J Sigma J' for features (M, N, D) -> (M, N, K)."""
        projected_sq = torch.einsum("mnd,mde->mne", features.double(), self.in_vectors) ** 2
        per_out_eig = torch.einsum("mne,mie->mni", projected_sq, self.inv_weight_eigs)
        weight_part = torch.einsum("mni,mki->mnk", per_out_eig, self.out_vectors_sq)
        return weight_part + self.bias_var[:, None]


def probit_probabilities(logits: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """laplace-torch's probit approximation of the GLM predictive."""
    kappa = 1.0 / torch.sqrt(1.0 + math.pi / 8.0 * variance)
    return torch.softmax(kappa * logits.double(), dim=-1)


def calibrate_members(states: list[dict[str, torch.Tensor]], hessians: list[KronHessian],
                      config) -> dict[str, torch.Tensor]:
    """Fit each member's prior precision (as npyx does at first use) and the predictive factors
    of the whole ensemble, as the tensors a bundle's ``calibration.safetensors`` holds."""
    n_features = config.head_hidden + (config.layer_dim if config.use_layer else 0)
    priors = []
    for state, hessian in zip(states, hessians, strict=True):
        hessian.check(config.n_classes, n_features)
        priors.append(fit_prior_precision(hessian, state["fc2.weight"], state["fc2.bias"]))
    factors = PredictiveFactors.from_hessians(hessians, priors)
    return {"out_vectors_sq": factors.out_vectors_sq, "in_vectors": factors.in_vectors,
            "inv_weight_eigs": factors.inv_weight_eigs, "bias_var": factors.bias_var,
            "prior_precision": torch.tensor(priors, dtype=torch.float64)}
