"""Where the networks run: CPU by default for prediction, CUDA on request, never silently."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phy_c4.cli import main
from phy_c4.model import predict_inputs
from phy_c4.model.device import resolve_device
from phy_c4.pipeline import PipelineOptions
from phy_c4.weights import get_bundle

needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


def test_auto_and_cpu_resolve_without_a_gpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu-ish")
    with pytest.raises(ValueError, match="device must be"):
        PipelineOptions(device="mps")


@needs_no_gpu
def test_asking_for_cuda_without_one_is_a_clear_error_before_any_work(tmp_path, capsys):
    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        resolve_device("cuda")
    # the folder does not even exist: the device is checked first, and said plainly
    assert main(["classify", str(tmp_path / "missing"), "--device", "cuda"]) == 1
    assert "sees no CUDA GPU" in capsys.readouterr().err


def _rows(bundle, n_units: int = 64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    n_inputs = bundle.network_config.n_inputs
    rows = torch.rand(n_units, n_inputs, generator=generator)
    rows[:, -3:] = 1.0  # every modality present
    return rows


@needs_gpu
def test_prediction_on_cuda_equals_the_cpu():
    """Measured on an H100: the same types, probabilities within 1e-5."""
    bundle = get_bundle("default")
    rows = _rows(bundle)
    cpu = predict_inputs(bundle, rows, device="cpu")
    gpu = predict_inputs(bundle, rows, device="cuda")
    assert np.array_equal(cpu.predicted, gpu.predicted)
    np.testing.assert_allclose(gpu.probabilities, cpu.probabilities, atol=1e-5)
