"""Quantum correction factors: limits, detailed balance, the exact quantum
harmonic oscillator, and the spectrum CLI option."""

import numpy as np
import pytest
from ase import units

from ase_dipole.cli import main
from ase_dipole.spectra.green_kubo import read_spectrum_csv
from ase_dipole.spectra.quantum_correction import (
    QUANTUM_CORRECTIONS,
    correlation_factor,
    reduced_frequency,
    spectrum_factor,
)

X = np.concatenate([-np.logspace(-3, 1.5, 40), [0.0], np.logspace(-3, 1.5, 40)])


def oscillator_lines(x):
    """Quantum and classical weights of the ±ω0 lines of ⟨q(0)q(t)⟩ for a
    harmonic oscillator, in units of ħ/(2mω0): quantum n+1 at +ω0 and n at
    −ω0 (n the Bose occupation), classical k_BT/(ħω0) = 1/x at both."""
    n = 1.0 / np.expm1(x)
    return n + 1.0, n, 1.0 / x


def test_classical_limit_and_detailed_balance():
    for name in QUANTUM_CORRECTIONS:
        q = correlation_factor(name, X)
        # ħω ≪ k_BT: every factor tends to 1
        assert correlation_factor(name, 0.0) == 1.0
        assert correlation_factor(name, 1e-6) == pytest.approx(1.0, abs=1e-6)
        assert spectrum_factor(name, 1e-6) == pytest.approx(1.0, abs=1e-12)
        # detailed balance G(−ω) = e^{−βħω} G(ω) for an even classical G_cl
        np.testing.assert_allclose(correlation_factor(name, -X), np.exp(-X) * q, rtol=1e-12)
        # the factor on α n is even in ω
        np.testing.assert_allclose(spectrum_factor(name, -X), spectrum_factor(name, X), rtol=1e-12)
        # and is Q (1 − e^{−x}) / x
        nonzero = X != 0
        np.testing.assert_allclose(spectrum_factor(name, X[nonzero]),
                                   q[nonzero] * -np.expm1(-X[nonzero]) / X[nonzero], rtol=1e-10)
    positive = X[X > 0]
    standard, harmonic, schofield = (correlation_factor(name, positive)
                                     for name in ("standard", "harmonic", "schofield"))
    assert np.all(standard <= harmonic) and np.all(harmonic <= schofield)


def test_small_and_large_x_expansions():
    x = 1e-2
    assert spectrum_factor("standard", x) == pytest.approx(1 - x**2 / 12, rel=1e-9)
    assert spectrum_factor("schofield", x) == pytest.approx(1 + x**2 / 24, rel=1e-9)
    np.testing.assert_array_equal(spectrum_factor("harmonic", X), 1.0)
    big = 40.0
    assert spectrum_factor("standard", big) == pytest.approx(2 / big, rel=1e-12)
    assert spectrum_factor("schofield", big) == pytest.approx(np.exp(big / 2) / big, rel=1e-12)


def test_factors_against_the_quantum_harmonic_oscillator():
    """Q_harmonic is exactly quantum/classical, Q_standard exactly quantum over
    its symmetrised part, and G·e^{−x/2} (Schofield's even function) is even."""
    x = np.logspace(-2, 1.3, 30)
    up, down, classical = oscillator_lines(x)
    np.testing.assert_allclose(correlation_factor("harmonic", x), up / classical, rtol=1e-12)
    np.testing.assert_allclose(correlation_factor("standard", x), up / (0.5 * (up + down)), rtol=1e-12)
    np.testing.assert_allclose(up / correlation_factor("schofield", x),
                               down / correlation_factor("schofield", -x), rtol=1e-12)


def test_reduced_frequency():
    # 1000 cm^-1 at 300 K: ħω/k_BT from ase.units directly
    expected = units._hbar * 2 * np.pi * units._c * 100.0 * 1000.0 / (units._k * 300.0)
    assert reduced_frequency(1000.0, 300.0) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(4.796, rel=1e-3)
    with pytest.raises(ValueError, match="temperature_K must be a positive number of kelvin, got 0"):
        reduced_frequency(1000.0, 0.0)
    with pytest.raises(ValueError, match="unknown quantum correction 'kubo'; use one of 'harmonic'"):
        spectrum_factor("kubo", 1.0)


def test_spectrum_cli_option(tmp_path):
    from spectrum_helpers import harmonic_dimer_logs

    logs, _, _ = harmonic_dimer_logs(tmp_path, temperature_K=300.0, masses_amu=((12.0, 12.0),),
                                     n_steps=2000)
    outputs = {}
    for name in ("none", "standard", "schofield"):
        out = tmp_path / f"{name}.csv"
        extra = [] if name == "none" else ["--quantum-correction", name]
        assert main(["spectrum", *map(str, logs), "-o", str(out), "--fwhm-cm1", "80", *extra]) == 0
        outputs[name] = read_spectrum_csv(out)
    classical = outputs["none"]
    x = reduced_frequency(classical.wavenumber_cm1, classical.metadata["temperature_K"])
    for name in ("standard", "schofield"):
        assert outputs[name].metadata["quantum_correction"] == name
        np.testing.assert_allclose(outputs[name].intensity,
                                   classical.intensity * spectrum_factor(name, x), rtol=1e-9)
