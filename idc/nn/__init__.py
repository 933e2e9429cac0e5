"""Plain torch modules of IDC: gate networks, autoencoder, clustering head and auxiliary classifier."""
from idc.nn.autoencoder import Autoencoder
from idc.nn.gates import (
    GATE_NETWORKS,
    GateNetwork,
    GlobalGates,
    HardConcreteGateNetwork,
    LocalGatingNetwork,
    hard_sigmoid,
    make_gate_network,
)
from idc.nn.heads import AuxiliaryClassifier, ClusteringHead

__all__ = [
    "GATE_NETWORKS",
    "Autoencoder",
    "AuxiliaryClassifier",
    "ClusteringHead",
    "GateNetwork",
    "GlobalGates",
    "HardConcreteGateNetwork",
    "LocalGatingNetwork",
    "hard_sigmoid",
    "make_gate_network",
]
