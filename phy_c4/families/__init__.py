"""Model families: the one place that dispatches on a bundle's ``architecture``.

A family (``ModelFamily``) says how its network is built from a manifest, what its typed feature
spec is, and how a unit's spikes and waveform become its input. The pipeline, the plugin and the
CLI only ever call ``load_bundle`` and ``family_of(bundle).unit_inputs``; a new family plugs in
with ``register_family`` and touches none of them.
"""

from __future__ import annotations

import os

from phy_c4.config import SpecError
from phy_c4.families.base import FamilyInputs, ModelFamily, UnitData
from phy_c4.families.c4_cnn import C4CnnFamily
from phy_c4.families.c4_tables import TableFamily
from phy_c4.model.bundle import Bundle, BundleError, check_tensors, read_bundle

FAMILIES: dict[str, ModelFamily] = {}


def register_family(family: ModelFamily) -> None:
    FAMILIES[family.architecture] = family


def family_for(architecture: str) -> ModelFamily:
    try:
        return FAMILIES[architecture]
    except KeyError:
        raise BundleError(f"unknown architecture {architecture!r} (known: "
                          f"{', '.join(sorted(FAMILIES))})") from None


def family_of(bundle: Bundle) -> ModelFamily:
    return family_for(bundle.architecture)


def attach(bundle: Bundle) -> Bundle:
    """Read the manifest's network config and feature spec strictly, check the tensors against
    the network, and give the bundle its network factory and spec."""
    family = family_of(bundle)
    where = bundle.path or bundle.name
    try:
        config = family.network_config(bundle.manifest["network"])
        spec = family.parse_spec(bundle.manifest["features"])
        family.check_spec(spec, config)
    except SpecError as error:
        raise BundleError(f"{where}: {error}") from None
    except (ValueError, TypeError, KeyError) as error:
        raise BundleError(f"{where}: bad network description ({error})") from None
    if tuple(config.labels) != bundle.labels:
        raise BundleError(f"{where}: manifest labels {list(bundle.labels)} differ from the "
                          f"network's {list(config.labels)}")
    bundle.spec, bundle.config = spec, config
    bundle.network_factory = lambda: family.new_network(config).eval()
    check_tensors(bundle, bundle.network_factory())
    return bundle


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Load a bundle folder or file: hashes, manifest, feature spec, tensors, all verified."""
    return attach(read_bundle(path))


register_family(C4CnnFamily())
register_family(TableFamily())

__all__ = ["FAMILIES", "FamilyInputs", "ModelFamily", "UnitData", "attach", "family_for",
           "family_of", "load_bundle", "register_family"]
