"""How well a bundle does on a labelled table, and the model card ``phy-c4 train`` writes."""

from __future__ import annotations

import json

import numpy as np
import torch

from phy_c4.model.ensemble import predict_inputs
from phy_c4.training.metrics import evaluate


def evaluate_table(bundle, table) -> dict:
    """Metrics of a bundle on a table's labelled units (labels must be the bundle's)."""
    labelled = table.labelled
    unknown = sorted(set(table.labels[labelled]) - set(bundle.labels))
    if unknown:
        raise ValueError(f"labels {unknown} are not classes of bundle {bundle.name} "
                         f"({list(bundle.labels)})")
    if not labelled.any():
        raise ValueError(f"table {table.name} has no labelled units")
    if bundle.architecture != "c4_tabular":
        raise ValueError(f"bundle {bundle.name} needs 3D-ACGs; tables carry none (use a Phy "
                         "folder with spike times)")
    inputs = torch.from_numpy(table.inputs(bundle.spec)[labelled])
    prediction = predict_inputs(bundle, inputs)
    y = np.array([bundle.labels.index(lab) for lab in table.labels[labelled]])
    return evaluate(prediction.probabilities, y, bundle.labels)


def model_card(bundle, table, calibration: dict) -> str:
    """A model card for a bundle trained with ``phy-c4 train`` (numbers from training only)."""
    training = bundle.manifest["training"]
    return f"""# Model card: {bundle.label}

Trained with `phy-c4 train` (phy_c4 {training['phy_c4']}) on: {table.name}.
Architecture: {bundle.architecture}; {bundle.n_members} members; classes {list(bundle.labels)}.
Feature spec (inputs follow it at run time): `{json.dumps(bundle.manifest['features'])}`.

Labelled units per class: {training['class_counts']}; units used for VAE pretraining:
{training['units_pretraining']}.

Calibration ({calibration['out_of_fold_units']} out-of-fold units): temperature
{calibration['temperature']:.3f}; expected calibration error {calibration['ece_before']:.3f}
before, {calibration['ece_after']:.3f} after.

Not measured here: accuracy on data from another lab, species or probe. Evaluate before use:
`phy-c4 evaluate --bundle {bundle.path} --table <held-out lab> --json`.
"""
