"""Reading Phy/Kilosort folders and writing results as Phy reads them."""

from phy_c4.io.dataset import DatasetError, Recording, open_recording
from phy_c4.io.tsv import read_cluster_column, write_cluster_column

__all__ = ["DatasetError", "Recording", "open_recording", "read_cluster_column",
           "write_cluster_column"]
