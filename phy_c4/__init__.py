"""phy_c4: the C4 cerebellar cell-type classifier, inside Phy and headless."""

__version__ = "0.1.0"
