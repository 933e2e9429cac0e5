"""Plain torch modules of IDC: gate networks, autoencoder, clustering heads and auxiliary classifier."""
from idc.nn.autoencoder import Autoencoder, decoder_metric
from idc.nn.gates import (
    GATE_NETWORKS,
    GateNetwork,
    GlobalGates,
    HardConcreteGateNetwork,
    LocalGatingNetwork,
    hard_sigmoid,
    make_gate_network,
)
from idc.nn.heads import (
    AuxiliaryClassifier,
    ClusteringHead,
    DECHead,
    DECTarget,
    KMeansHead,
    fit_kmeans,
    head_kind,
    make_head,
)

__all__ = [
    "GATE_NETWORKS",
    "Autoencoder",
    "AuxiliaryClassifier",
    "ClusteringHead",
    "DECHead",
    "DECTarget",
    "GateNetwork",
    "GlobalGates",
    "HardConcreteGateNetwork",
    "KMeansHead",
    "LocalGatingNetwork",
    "decoder_metric",
    "fit_kmeans",
    "head_kind",
    "hard_sigmoid",
    "make_gate_network",
    "make_head",
]
