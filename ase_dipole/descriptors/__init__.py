"""Atomic environments: neighbour lists, the radial basis and the λ-SOAP
features with their derivatives (numba kernels in the ``*_numba`` modules)."""

from ase_dipole.descriptors.lambda_soap import LambdaSOAP
from ase_dipole.descriptors.neighbours import NeighbourList, neighbour_list

__all__ = ["LambdaSOAP", "NeighbourList", "neighbour_list"]
