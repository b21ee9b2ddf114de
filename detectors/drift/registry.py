"""The default method registry: every drift method under Evidently's name."""

from __future__ import annotations

from detectors.drift.anderson import AndersonDarling
from detectors.drift.base import DriftMethod, MethodRegistry
from detectors.drift.chisquare import ChiSquare
from detectors.drift.cramer_von_mises import CramerVonMises
from detectors.drift.energy import EnergyDistance
from detectors.drift.epps_singleton import EppsSingleton
from detectors.drift.fisher_exact import FisherExact
from detectors.drift.g_test import GTest
from detectors.drift.hellinger import Hellinger
from detectors.drift.jensenshannon import JensenShannon
from detectors.drift.kl_div import KullbackLeibler
from detectors.drift.ks import KolmogorovSmirnov
from detectors.drift.mannw import MannWhitney
from detectors.drift.mmd import EmpiricalMMD
from detectors.drift.psi import PopulationStabilityIndex
from detectors.drift.t_test import StudentT
from detectors.drift.tvd import TotalVariation
from detectors.drift.wasserstein import WassersteinNorm
from detectors.drift.z import TwoProportionZ


def default_methods(seed: int = 0) -> list[DriftMethod]:
    """One instance of every built-in method; `seed` drives the permutation tests (TVD, empirical_mmd)."""
    return [
        KolmogorovSmirnov(),
        ChiSquare(),
        TwoProportionZ(),
        WassersteinNorm(),
        JensenShannon(),
        PopulationStabilityIndex(),
        KullbackLeibler(),
        Hellinger(),
        AndersonDarling(),
        CramerVonMises(),
        MannWhitney(),
        EnergyDistance(),
        EppsSingleton(),
        StudentT(),
        FisherExact(),
        GTest(),
        TotalVariation(seed=seed),
        EmpiricalMMD(seed=seed),
    ]


def default_registry(seed: int = 0) -> MethodRegistry:
    """A registry holding every built-in method."""
    return MethodRegistry(default_methods(seed))
