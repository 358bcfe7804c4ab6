"""Official-format C4 archives import and reproduce npyx 4.3.1's probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from phy_c4.model import predict_raw


def test_uncalibrated_probabilities_match_npyx(imported):
    bundle, expected = imported
    probs = predict_raw(bundle, expected["X"])
    assert probs.shape == expected["probs"].shape
    np.testing.assert_allclose(probs, expected["probs"], rtol=0, atol=1e-5)


def test_calibrated_probabilities_and_priors_match_npyx(imported):
    bundle, expected = imported
    probs = predict_raw(bundle, expected["X"], calibrated=True)
    np.testing.assert_allclose(probs, expected["probs_calibrated"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(bundle.calibration["prior_precision"].numpy(),
                               expected["prior_precision"], rtol=1e-3)
    # calibration must actually matter, or the test above proves nothing
    assert np.abs(expected["probs_calibrated"] - expected["probs"]).max() > 1e-3


K, D = 3, 4


def _hessian(seed: int = 0, damping: bool = False):
    """A random Kronecker-factored Hessian with orthonormal factors and positive eigenvalues."""
    import torch

    from phy_c4.model.laplace import KronHessian

    rng = np.random.default_rng(seed)
    q = [np.linalg.qr(rng.normal(size=(n, n)))[0] for n in (K, D, K)]
    values = [rng.uniform(0.5, 3.0, n) for n in (K, D, K)]
    names = ("out_values", "in_values", "bias_values", "out_vectors", "in_vectors",
             "bias_vectors")
    return KronHessian(**dict(zip(names, (torch.tensor(a) for a in (*values, *q)), strict=True)),
                       deltas=torch.tensor([0.3, 0.7], dtype=torch.float64), damping=damping)


def _dense_precisions(hessian, prior: float) -> tuple[np.ndarray, np.ndarray]:
    """Posterior precisions of vec(W) (row-major, K D) and of b, built as full matrices."""
    l1, l2, lb, q1, q2, qb = (t.numpy() for t in (
        hessian.out_values, hessian.in_values, hessian.bias_values, hessian.out_vectors,
        hessian.in_vectors, hessian.bias_vectors))
    d_w, d_b = hessian.deltas.numpy()
    a, b = q1 @ np.diag(l1) @ q1.T, q2 @ np.diag(l2) @ q2.T
    if hessian.damping:  # laplace-torch adds the root of the prior to each factor
        root = np.sqrt(d_w + prior)
        weight = np.kron(a + root * np.eye(K), b + root * np.eye(D))
    else:
        weight = np.kron(a, b) + (d_w + prior) * np.eye(K * D)
    bias = qb @ np.diag(lb) @ qb.T + (d_b + prior) * np.eye(K)
    return weight, bias


@pytest.mark.parametrize("damping", [False, True])
def test_the_marginal_likelihood_is_laplace_torchs_with_dense_determinants(damping):
    import torch

    from phy_c4.model.laplace import neg_log_marglik

    hessian, prior, theta_sq = _hessian(1, damping), 0.8, 2.5
    weight, bias = _dense_precisions(hessian, prior)
    n_params = K * D + K
    expected = 0.5 * (np.linalg.slogdet(weight)[1] + np.linalg.slogdet(bias)[1]
                      - n_params * np.log(prior) + prior * theta_sq)
    got = neg_log_marglik(hessian, torch.tensor(theta_sq, dtype=torch.float64), n_params,
                          prior=torch.tensor(prior, dtype=torch.float64))
    assert float(got) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("damping", [False, True])
def test_the_logit_variance_is_the_diagonal_of_j_sigma_j(damping):
    import torch

    from phy_c4.model.laplace import PredictiveFactors

    hessians = [_hessian(2, damping), _hessian(3, damping)]
    priors = [0.3, 1.7]  # not exact in float32: the prior is used in float64
    features = np.random.default_rng(4).normal(size=(2, 5, D))
    factors = PredictiveFactors.from_hessians(hessians, priors)
    got = factors.logit_variance(torch.tensor(features, dtype=torch.float32)).numpy()
    assert got.shape == (2, 5, K)
    for m, (hessian, prior) in enumerate(zip(hessians, priors, strict=True)):
        weight, bias = _dense_precisions(hessian, prior)
        sigma_w, sigma_b = np.linalg.inv(weight), np.linalg.inv(bias)
        for n in range(5):
            phi = features[m, n].astype(np.float32).astype(np.float64)
            jac = np.kron(np.eye(K), phi)  # d f_k / d vec(W), row-major
            expected = np.diag(jac @ sigma_w @ jac.T) + np.diag(sigma_b)
            np.testing.assert_allclose(got[m, n], expected, rtol=1e-10)


def test_probit_probabilities_shrink_logits_by_their_variance():
    import math

    import torch

    from phy_c4.model.laplace import probit_probabilities

    logits = torch.tensor([[2.0, 0.0, -1.0]])
    variance = torch.tensor([[1.0, 4.0, 0.0]], dtype=torch.float64)
    kappa = 1.0 / np.sqrt(1.0 + math.pi / 8.0 * np.array([1.0, 4.0, 0.0]))
    scaled = kappa * np.array([2.0, 0.0, -1.0])
    expected = np.exp(scaled) / np.exp(scaled).sum()
    got = probit_probabilities(logits, variance)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy()[0], expected, rtol=1e-12)
    np.testing.assert_allclose(probit_probabilities(logits, torch.zeros(1, 3)).numpy()[0],
                               torch.softmax(logits.double(), -1).numpy()[0], rtol=1e-12)


def test_the_prior_precision_is_adam_on_its_log_for_100_steps_from_1():
    import torch

    from phy_c4.model.laplace import fit_prior_precision, neg_log_marglik

    hessian = _hessian(5)
    weight, bias = torch.full((K, D), 0.3), torch.full((K,), -0.2)
    theta_sq = (weight.double() ** 2).sum() + (bias.double() ** 2).sum()
    log_prior = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)  # log 1
    optimizer = torch.optim.Adam([log_prior], lr=0.1)
    for _ in range(100):
        optimizer.zero_grad()
        neg_log_marglik(hessian, theta_sq, K * D + K, prior=log_prior.exp()).backward()
        optimizer.step()
    assert fit_prior_precision(hessian, weight, bias) == float(log_prior.detach().exp())
    assert fit_prior_precision(hessian, weight, bias, steps=0) == 1.0
    assert fit_prior_precision(hessian, weight, bias, steps=0, init=2.5) == pytest.approx(2.5)


def _npyx_entry(hessian) -> dict:
    return {"eigenvalues": [[hessian.out_values, hessian.in_values], [hessian.bias_values]],
            "eigenvectors": [[hessian.out_vectors, hessian.in_vectors], [hessian.bias_vectors]],
            "deltas": hessian.deltas, "damping": hessian.damping}


def test_an_npyx_hessian_entry_is_read_with_its_deltas_and_damping():
    import torch

    from phy_c4.model.laplace import KronHessian

    hessian = _hessian(6, damping=True)
    read = KronHessian.from_npyx(_npyx_entry(hessian))
    assert read.damping is True and read.deltas.dtype == torch.float64
    for name in ("out_values", "in_values", "bias_values", "out_vectors", "in_vectors",
                 "bias_vectors", "deltas"):
        assert torch.equal(getattr(read, name), getattr(hessian, name)), name
    plain = _npyx_entry(hessian)
    del plain["deltas"], plain["damping"]
    defaults = KronHessian.from_npyx(plain)
    assert defaults.damping is False and torch.equal(defaults.deltas, torch.zeros(2,
                                                                                 dtype=torch.float64))


@pytest.mark.parametrize("edit, message", [
    (lambda e: e.pop("eigenvalues"), "^malformed Kronecker Hessian entry: 'eigenvalues'$"),
    (lambda e: e.update(eigenvectors=[[1, 2]]), "^malformed Kronecker Hessian entry: "),
    (lambda e: e.update(eigenvalues=None), "^malformed Kronecker Hessian entry: "),
    (lambda e: e["eigenvectors"][0].__setitem__(1, np.eye(D + 1)),
     "^Kronecker Hessian factors have inconsistent shapes$"),
    (lambda e: e.update(deltas=np.zeros(3)), "^Kronecker Hessian factors have inconsistent"),
    (lambda e: e["eigenvalues"][1].__setitem__(0, np.full(K, np.nan)),
     "^Hessian contains NaN or infinite values$"),
    (lambda e: e["eigenvectors"][0].__setitem__(0, np.full((K, K), np.inf)),
     "^Hessian contains NaN or infinite values$"),
])
def test_malformed_hessians_are_refused_saying_how(edit, message):
    from phy_c4.model.laplace import KronHessian

    entry = _npyx_entry(_hessian(7))
    entry["eigenvalues"] = [list(entry["eigenvalues"][0]), list(entry["eigenvalues"][1])]
    entry["eigenvectors"] = [list(entry["eigenvectors"][0]), list(entry["eigenvectors"][1])]
    edit(entry)
    with pytest.raises(ValueError, match=message):
        KronHessian.from_npyx(entry)


def test_a_hessian_for_another_layer_shape_is_refused():
    hessian = _hessian(8)
    hessian.check(K, D)
    for n_classes, n_features in ((K + 1, D), (K, D + 1), (K + 1, None), (None, D - 1)):
        with pytest.raises(ValueError) as error:
            hessian.check(n_classes, n_features)
        assert str(error.value) == (f"Hessian is for a {K} x {D} last layer, model has "
                                    f"{n_classes} x {n_features}")


@pytest.mark.parametrize("use_layer", [False, True])
def test_calibration_checks_each_hessian_against_the_last_layer(use_layer):
    import types

    import torch

    from phy_c4.model.laplace import calibrate_members, fit_prior_precision

    config = types.SimpleNamespace(n_classes=K, head_hidden=D - 1 if use_layer else D,
                                   layer_dim=1, use_layer=use_layer)
    hessians = [_hessian(9), _hessian(10)]
    states = [{"fc2.weight": torch.full((K, D), w), "fc2.bias": torch.full((K,), w)}
              for w in (0.1, 0.4)]
    tensors = calibrate_members(states, hessians, config)
    assert set(tensors) == {"out_vectors_sq", "in_vectors", "inv_weight_eigs", "bias_var",
                            "prior_precision"}
    priors = [fit_prior_precision(h, s["fc2.weight"], s["fc2.bias"])
              for h, s in zip(hessians, states, strict=True)]
    assert tensors["prior_precision"].tolist() == priors
    assert tensors["inv_weight_eigs"].shape == (2, K, D)
    torch.testing.assert_close(tensors["in_vectors"][1], hessians[1].in_vectors)
    torch.testing.assert_close(tensors["out_vectors_sq"][0], hessians[0].out_vectors ** 2)
    wrong = types.SimpleNamespace(n_classes=K, head_hidden=D, layer_dim=1, use_layer=True)
    with pytest.raises(ValueError, match="last layer"):
        calibrate_members(states, hessians, wrong)


def test_npyxs_float32_hessians_are_read_in_float64():
    import torch

    from phy_c4.model.laplace import KronHessian

    entry = _npyx_entry(_hessian(11))
    entry = {"eigenvalues": [[t.float() for t in entry["eigenvalues"][0]],
                             [entry["eigenvalues"][1][0].float()]],
             "eigenvectors": [[t.float() for t in entry["eigenvectors"][0]],
                              [entry["eigenvectors"][1][0].float()]],
             "deltas": torch.tensor([0.1, 0.2])}
    read = KronHessian.from_npyx(entry)
    for name in ("out_values", "in_values", "bias_values", "out_vectors", "in_vectors",
                 "bias_vectors", "deltas"):
        assert getattr(read, name).dtype == torch.float64, name
    del entry["deltas"]
    assert KronHessian.from_npyx(entry).deltas.dtype == torch.float64


def test_one_hessian_and_one_prior_per_member():
    import types

    import torch

    from phy_c4.model.laplace import PredictiveFactors, calibrate_members

    hessians = [_hessian(12), _hessian(13)]
    with pytest.raises(ValueError):
        PredictiveFactors.from_hessians(hessians, [1.0])
    config = types.SimpleNamespace(n_classes=K, head_hidden=D, layer_dim=1, use_layer=False)
    states = [{"fc2.weight": torch.zeros(K, D), "fc2.bias": torch.zeros(K)}] * 3
    with pytest.raises(ValueError):
        calibrate_members(states, hessians, config)


def test_calibration_refuses_a_hessian_for_another_number_of_classes():
    import types

    import torch

    from phy_c4.model.laplace import calibrate_members

    config = types.SimpleNamespace(n_classes=K + 1, head_hidden=D, layer_dim=1, use_layer=False)
    states = [{"fc2.weight": torch.zeros(K + 1, D), "fc2.bias": torch.zeros(K + 1)}]
    with pytest.raises(ValueError) as error:
        calibrate_members(states, [_hessian(14)], config)
    assert str(error.value) == f"Hessian is for a {K} x {D} last layer, model has {K + 1} x {D}"
