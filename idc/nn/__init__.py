"""Plain torch modules of IDC: gating networks, autoencoder, clustering head and auxiliary classifier."""
from idc.nn.autoencoder import Autoencoder
from idc.nn.gates import GlobalGates, LocalGatingNetwork, hard_sigmoid
from idc.nn.heads import AuxiliaryClassifier, ClusteringHead

__all__ = [
    "Autoencoder",
    "AuxiliaryClassifier",
    "ClusteringHead",
    "GlobalGates",
    "LocalGatingNetwork",
    "hard_sigmoid",
]
