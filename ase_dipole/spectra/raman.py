r"""Raman spectra: harmonic (phonopy bridge) and finite temperature (α̇ autocorrelation).

Conventions (docs/raman.md): α in Å³ (polarizability volume), ∂α/∂x in Å²
with ``[i, a, b, c] = ∂α_ab/∂x_ic``, mass-weighted normal coordinates Q in
√amu·Å. The Raman tensor of mode ν is

.. math::

    R_{\nu,ab} = \partial\alpha_{ab}/\partial Q_\nu
    = \sum_{ic} \partial\alpha_{ab}/\partial x_{ic}\, e_{\nu,ic}/\sqrt{m_i}

(Å²/√amu), with the invariants :math:`\bar a = \mathrm{Tr} R/3` and
:math:`\gamma^2 = \tfrac32 \mathrm{Tr}(B B)`, B = R − ā·1 (Long, *The Raman
Effect*). The scattering channels of an orientation-averaged sample with 90°
scattering are weighted sums w_a·ā² + w_γ·γ²:

=============  =====  =====
channel        w_a    w_γ
=============  =====  =====
total          45     7       (the Raman activity, as ``ase.vibrations`` and Gaussian)
parallel       45     4
perpendicular  0      3
isotropic      45     0
anisotropic    0      7
=============  =====  =====

and the depolarization ratio is ρ = 3γ²/(45ā² + 4γ²). The absolute
differential cross-section of the Stokes line of mode ν (Porezag &
Pederson 1996, Polavarapu 1990) is, in CGS units,

.. math::

    \frac{d\sigma_\nu}{d\Omega} = \frac{(2\pi)^4}{45}
    (\tilde\nu_0 - \tilde\nu_\nu)^4 \frac{h}{8\pi^2 c\,\tilde\nu_\nu}
    \frac{S_\nu}{1 - e^{-hc\tilde\nu_\nu/k_BT}},

S_ν the activity of the channel (cm⁴/g), ν̃₀ the laser wavenumber; the last
factor is 1 + n(ν̃).

The finite-temperature spectrum uses the classical time correlation of α̇:
for a harmonic system :math:`\langle \dot{\bar a}(0)\dot{\bar a}(t)\rangle =
k_BT \sum_\nu \bar a_\nu^2 \cos\omega_\nu t`, so

.. math::

    S(\tilde\nu) = 4 c \beta \int_0^\infty \big[w_a\langle\dot{\bar a}(0)\dot{\bar a}(t)\rangle
    + w_\gamma \tfrac32 \langle \mathrm{Tr}\,\dot B(0)\dot B(t)\rangle\big]
    \cos(2\pi c\tilde\nu t)\, \mathrm{d}t

is the activity density :math:`\sum_\nu S_\nu\, \delta(\tilde\nu-\tilde\nu_\nu)`
(Å⁴/amu per cm⁻¹), the exact counterpart of the harmonic stick spectrum; its
cross-section is S(ν̃) times the same factor as above at ν̃ (the harmonic
quantum correction, which makes the classical line carry the quantum
(1 + n)/ν̃ weight). Window, estimator, trajectory averaging and standard
errors are those of :func:`ase_dipole.spectra.green_kubo.ir_spectrum`.
"""

import datetime
import json
import os

import ase.units
import numpy as np
import phonopy

from ase_dipole import __version__
from ase_dipole.atomic import atomic_write, write_text_atomic
from ase_dipole.io.polarizability import check_polarizability_derivatives, get_polarizability_derivatives
from ase_dipole.spectra.csv_table import read_headed_csv
from ase_dipole.spectra.green_kubo import IRSpectrum, _correlation, spectral_grid
from ase_dipole.spectra.harmonic import LINESHAPES, HarmonicIR, HarmonicNotRunError

#: channel -> (weight of ā², weight of γ²)
CHANNELS = {
    "total": (45.0, 7.0),
    "parallel": (45.0, 4.0),
    "perpendicular": (0.0, 3.0),
    "isotropic": (45.0, 0.0),
    "anisotropic": (0.0, 7.0),
}
#: spectrum quantities: the cross-section with the laser factor, or the bare activity
QUANTITIES = ("cross_section", "activity")
DEFAULT_LASER_WAVELENGTH_NM = 532.0
CM4_PER_G_PER_A4_PER_AMU = 1e-32 / (ase.units._amu * 1e3)  # [(cm⁴/g) / (Å⁴/amu)]
H_CGS = ase.units._hplanck * 1e7  # [erg·s]
C_CGS = ase.units._c * 100.0  # [cm / s]
KB_CGS = ase.units._k * 1e7  # [erg / K]
C_CM_PER_FS = C_CGS * 1e-15  # [cm / fs]
#: k_B in amu·Å²/fs² per K (ASE energy eV → amu Å² fs⁻²)
KB_AMU_A2_FS2 = ase.units.kB / (ase.units._amu * 1e-20 / 1e-30 / ase.units._e)  # [amu·Å²/fs² / K]
CSV_MAGIC = "# ase-dipole Raman spectrum"
CSV_COLUMNS = "wavenumber_cm1,intensity,error"


class RamanSpectrum(IRSpectrum):
    """A Raman spectrum: the fields of :class:`IRSpectrum` (``intensity``
    in cm²/sr per cm⁻¹ per simulated system, or Å⁴/amu per cm⁻¹ for an
    activity spectrum; see ``unit``), written with its own CSV header."""

    def write_csv(self, path):
        """Write the spectrum (header lines, then ``wavenumber_cm1,intensity,error``)
        atomically; read back with :func:`read_raman_csv`."""
        with atomic_write(path) as handle:
            handle.write(CSV_MAGIC + "\n")
            handle.write(f"# unit: {self.unit}\n")
            handle.write("# metadata: " + json.dumps(self.metadata, sort_keys=True) + "\n")
            handle.write(CSV_COLUMNS + "\n")
            np.savetxt(handle, np.column_stack([self.wavenumber_cm1, self.intensity, self.error]),
                       delimiter=",", fmt="%.12e")


def read_raman_csv(path):
    """Read a spectrum written by :meth:`RamanSpectrum.write_csv`."""
    header, table = read_headed_csv(path, magic=CSV_MAGIC, columns=CSV_COLUMNS,
                                    required=("unit", "metadata"), kind="Raman spectrum", hint="")
    return RamanSpectrum(wavenumber_cm1=table[:, 0].copy(), intensity=table[:, 1].copy(),
                         error=table[:, 2].copy(), unit=header["unit"],
                         metadata=json.loads(header["metadata"]))


def check_laser_wavelength(laser_wavelength_nm):
    """The laser wavenumber ν̃₀ (cm⁻¹) of a wavelength in nm; one clear error otherwise."""
    try:
        value = float(laser_wavelength_nm)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"laser_wavelength_nm must be a positive number of nm (e.g. 532), got {laser_wavelength_nm!r}")
    return 1e7 / value


def _check_channel(channel):
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; use one of {', '.join(map(repr, CHANNELS))}")
    return CHANNELS[channel]


def raman_invariants(tensors):
    """ā² and γ² of Raman tensors.

    Parameters
    ----------
    tensors : array_like, shape (M, 3, 3)
        Symmetric Raman tensors ∂α/∂Q, Å²/√amu.

    Returns
    -------
    mean_square : (M,) float array
        ā² = (Tr R / 3)², Å⁴/amu.
    anisotropy_square : (M,) float array
        γ² = ½[(R_xx−R_yy)² + (R_yy−R_zz)² + (R_zz−R_xx)²] + 3(R_xy² + R_xz² + R_yz²), Å⁴/amu.
    """
    tensors = np.asarray(tensors, dtype=float)
    if tensors.ndim != 3 or tensors.shape[1:] != (3, 3):
        raise ValueError(f"Raman tensors have shape {tensors.shape}; expected (M, 3, 3) Å²/√amu")
    mean = np.trace(tensors, axis1=1, axis2=2) / 3.0
    traceless = tensors - mean[:, None, None] * np.eye(3)
    return mean**2, 1.5 * np.einsum("mab,mab->m", traceless, traceless)


def raman_tensor_from_mode_displacement(minus, plus):
    r"""R = ∂α/∂Q (3, 3) Å²/√amu of one normal mode from two frames displaced
    ∓ along it, each with ``info['polarizability']`` (Å³):

    .. math::

        R = \frac{\alpha_+ - \alpha_-}{\lVert \sqrt{m}\,(x_+ - x_-) \rVert}

    (central difference in the mass-weighted amplitude; displacements by the
    minimum image in a periodic cell). This is how Phonopy-Spectroscopy's
    ``phonopy-raman`` displaces the structure.
    """
    from ase_dipole.io.polarizability import get_polarizability

    if minus.get_chemical_symbols() != plus.get_chemical_symbols():
        raise ValueError("the two displaced frames hold different atoms; pair the ± frames of one mode")
    alphas = [get_polarizability(frame) for frame in (minus, plus)]
    if any(alpha is None for alpha in alphas):
        raise ValueError("both frames need info['polarizability'] (Å³); read VASP OUTCARs with read_vasp_polarizability")
    delta = plus.get_positions() - minus.get_positions()
    if np.all(minus.pbc) and minus.cell.rank == 3:
        fractional = np.linalg.solve(np.array(minus.cell).T, delta.T).T
        delta = (fractional - np.round(fractional)) @ np.array(minus.cell)
    amplitude = np.linalg.norm(np.sqrt(minus.get_masses())[:, None] * delta)
    if not amplitude > 0:
        raise ValueError("the two frames have the same geometry; give the − and + displaced frames of a mode")
    return (alphas[1] - alphas[0]) / amplitude


def depolarization_ratios(tensors):
    """ρ = 3γ²/(45ā² + 4γ²) of Raman tensors (M, 3, 3); NaN for an inactive mode."""
    mean_square, anisotropy_square = raman_invariants(tensors)
    denominator = 45.0 * mean_square + 4.0 * anisotropy_square
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 3.0 * anisotropy_square / np.where(denominator > 0, denominator, 1.0), np.nan)


def scattering_factor(wavenumber_cm1, *, laser_wavelength_nm, temperature_K):
    r"""Cross-section per unit activity, cm²/sr per (Å⁴/amu):
    :math:`\frac{(2\pi)^4}{45}(\tilde\nu_0-\tilde\nu)^4 \frac{h}{8\pi^2 c\tilde\nu}
    \frac{1}{1-e^{-hc\tilde\nu/k_BT}}` in CGS, times the Å⁴/amu → cm⁴/g factor.

    Parameters
    ----------
    wavenumber_cm1 : array_like, shape (K,)
        Raman shifts ν̃ > 0, cm⁻¹ (below the laser wavenumber).
    laser_wavelength_nm : float
    temperature_K : float
        ≥ 0; 0 gives 1 + n = 1.
    """
    laser_cm1 = check_laser_wavelength(laser_wavelength_nm)
    if not (np.isfinite(temperature_K) and temperature_K >= 0):
        raise ValueError(f"temperature_K must be a number of kelvin >= 0, got {temperature_K!r}")
    shift = np.asarray(wavenumber_cm1, dtype=float)
    if np.any(shift <= 0) or np.any(shift >= laser_cm1):
        raise ValueError(
            f"Raman shifts must lie in (0, {laser_cm1:.1f}) cm^-1 (the laser wavenumber of "
            f"{laser_wavelength_nm} nm); got {shift.min():.4g} … {shift.max():.4g} cm^-1"
        )
    if temperature_K > 0:
        bose_plus_one = 1.0 / -np.expm1(-H_CGS * C_CGS * shift / (KB_CGS * temperature_K))
    else:
        bose_plus_one = np.ones_like(shift)
    return ((2.0 * np.pi) ** 4 / 45.0 * (laser_cm1 - shift) ** 4 * H_CGS / (8.0 * np.pi**2 * C_CGS * shift)
            * bose_plus_one * CM4_PER_G_PER_A4_PER_AMU)


def _line_shapes(wavenumber_cm1, centres, fwhm_cm1, lineshape):
    offset = wavenumber_cm1[:, None] - centres[None, :]
    if lineshape == "lorentzian":
        gamma = 0.5 * fwhm_cm1
        return gamma / np.pi / (offset**2 + gamma**2)
    sigma = fwhm_cm1 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    return np.exp(-0.5 * (offset / sigma) ** 2) / (sigma * np.sqrt(2.0 * np.pi))


class HarmonicRaman:
    """Γ-point harmonic Raman spectrum from phonopy normal modes and ∂α/∂x.

    The normal modes are those of :class:`~ase_dipole.spectra.harmonic.HarmonicIR`
    (same acoustic / rigid-body / imaginary handling).

    Parameters
    ----------
    phonon : phonopy.Phonopy
        With force constants (:func:`~ase_dipole.spectra.harmonic.load_phonopy`,
        :func:`~ase_dipole.spectra.harmonic.phonopy_from_calculator`).
    polarizability_derivatives : array_like, ase.Atoms, path or model
        ∂α/∂x at phonopy's primitive cell, ``[i, a, b, c] = ∂α_ab/∂x_ic``
        (Å²), from one of

        * an array of shape (N, 3, 3, 3) or (N, 27);
        * an :class:`ase.Atoms` or a file readable by ``ase.io.read`` (its last
          frame) with ``arrays['polarizability_derivatives']``, same atoms in
          the same order as the primitive cell;
        * a model with ``predict(atoms) -> (alpha (3, 3), dalpha (N, 3, 3, 3))``,
          evaluated at the primitive cell.

        Symmetrized in (a, b) after a check (:data:`ase_dipole.io.polarizability.SYMMETRY_RTOL`).
    laser_wavelength_nm : float, optional
        Exciting laser wavelength, nm.
    temperature_K : float, optional
        Temperature of the Bose factor 1 + n(ν̃), K (0: none).
    periodic : bool, optional
        As for :class:`HarmonicIR`.
    acoustic_threshold_cm1 : float, optional
        As for :class:`HarmonicIR`.
    """

    def __init__(self, phonon, polarizability_derivatives, *, laser_wavelength_nm=DEFAULT_LASER_WAVELENGTH_NM,
                 temperature_K=300.0, periodic=None, acoustic_threshold_cm1=20.0):
        check_laser_wavelength(laser_wavelength_nm)
        self._laser_wavelength_nm = float(laser_wavelength_nm)
        if not (np.isfinite(temperature_K) and temperature_K >= 0):
            raise ValueError(f"temperature_K must be a number of kelvin >= 0, got {temperature_K!r}")
        self._temperature_K = float(temperature_K)
        self._modes = HarmonicIR(phonon, np.zeros((len(phonon.primitive), 3, 3)), periodic=periodic,
                                 acoustic_threshold_cm1=acoustic_threshold_cm1)
        self._atoms = self._modes.atoms
        self._source = (os.fspath(polarizability_derivatives)
                        if isinstance(polarizability_derivatives, (str, os.PathLike))
                        else type(polarizability_derivatives).__name__)
        self._derivatives = self._resolve(polarizability_derivatives)
        self._results = None

    def _resolve(self, source):
        from ase import Atoms

        n_atoms = len(self._atoms)
        if hasattr(source, "predict"):
            from ase_dipole.dynamics.calculator import check_species

            check_species(source, self._atoms)
            _, derivatives = source.predict(self._atoms.copy())
            return check_polarizability_derivatives(derivatives, n_atoms, what="the model's ∂α/∂x")
        if isinstance(source, (str, os.PathLike)):
            import ase.io

            path = os.fspath(source)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"no such file: '{path}'; check the path")
            source = ase.io.read(path, index=-1)
        if isinstance(source, Atoms):
            if source.get_chemical_symbols() != self._atoms.get_chemical_symbols():
                raise ValueError(
                    f"the frame with ∂α/∂x ({source.get_chemical_formula()}, {len(source)} atoms) is not "
                    f"phonopy's primitive cell ({self._atoms.get_chemical_formula()}, {n_atoms} atoms) "
                    "atom by atom; give ∂α/∂x for the same atoms in the same order"
                )
            derivatives = get_polarizability_derivatives(source)
            if derivatives is None:
                raise ValueError("the frame has no arrays['polarizability_derivatives'] ((N, 27) Å², "
                                 "[i, a, b, c] = ∂α_ab/∂x_ic)")
            return derivatives
        return check_polarizability_derivatives(source, n_atoms)

    def run(self):
        """Normal modes, Raman tensors and activities. Returns ``self``."""
        self._modes.run()
        masses = self._atoms.get_masses()
        weighted = self._modes.eigenvectors / np.sqrt(masses)[None, :, None]
        tensors = np.einsum("iabc,nic->nab", self._derivatives, weighted)
        mean_square, anisotropy_square = raman_invariants(tensors)
        self._results = {"tensors": tensors, "mean_square": mean_square,
                         "anisotropy_square": anisotropy_square}
        for array in self._results.values():
            array.flags.writeable = False
        return self

    def _get(self, key):
        if self._results is None:
            raise HarmonicNotRunError("HarmonicRaman.run() has to be done")
        return self._results[key]

    @property
    def atoms(self):
        """The primitive cell (ase.Atoms) the modes refer to."""
        return self._atoms.copy()

    @property
    def periodic(self):
        return self._modes.periodic

    @property
    def polarizability_derivatives(self):
        """(N, 3, 3, 3) Å²: ∂α_ab/∂x_ic used (symmetrized in a, b)."""
        return self._derivatives.copy()

    @property
    def laser_wavelength_nm(self):
        return self._laser_wavelength_nm

    @property
    def temperature_K(self):
        return self._temperature_K

    @property
    def frequencies_cm1(self):
        """(3N,) cm⁻¹, ascending; imaginary ones negative."""
        self._get("tensors")
        return self._modes.frequencies_cm1

    @property
    def eigenvectors(self):
        """(3N, N, 3) mass-weighted unit eigenvectors."""
        self._get("tensors")
        return self._modes.eigenvectors

    @property
    def active(self):
        """(3N,) bool: modes that enter the spectrum (not acoustic or rigid, not imaginary)."""
        self._get("tensors")
        return self._modes.active

    @property
    def raman_tensors(self):
        """(3N, 3, 3) Å²/√amu: R_ν = ∂α/∂Q_ν."""
        return self._get("tensors")

    def activities(self, channel="total"):
        """(3N,) Å⁴/amu: w_a ā² + w_γ γ² of ``channel`` (total: 45ā² + 7γ²)."""
        weight_a, weight_g = _check_channel(channel)
        return weight_a * self._get("mean_square") + weight_g * self._get("anisotropy_square")

    @property
    def depolarization_ratios(self):
        """(3N,) ρ = 3γ²/(45ā² + 4γ²); NaN where the mode has no Raman activity."""
        return depolarization_ratios(self._get("tensors"))

    def cross_sections(self, channel="total"):
        """(3N,) cm²/sr: dσ/dΩ of each active mode's Stokes line (0 for inactive modes)."""
        active = self.active
        out = np.zeros(len(active))
        out[active] = self.activities(channel)[active] * scattering_factor(
            self.frequencies_cm1[active], laser_wavelength_nm=self._laser_wavelength_nm,
            temperature_K=self._temperature_K)
        return out

    def spectrum(self, wavenumber_cm1=None, *, channel="total", quantity="cross_section",
                 fwhm_cm1=20.0, lineshape="lorentzian"):
        """Line spectrum Σ_ν I_ν L(ν̃ − ν̃_ν) over the active modes.

        Parameters
        ----------
        wavenumber_cm1 : array_like, shape (K,), optional
            Grid, cm⁻¹; default from min(1, fwhm/10) up to max ν̃ + 10·fwhm.
        channel : {'total', 'parallel', 'perpendicular', 'isotropic', 'anisotropic'}
        quantity : {'cross_section', 'activity'}
            ``cross_section``: I_ν = dσ_ν/dΩ (cm²/sr), spectrum in cm²/sr per
            cm⁻¹ per cell (molecule). ``activity``: I_ν = S_ν, Å⁴/amu per cm⁻¹.
        fwhm_cm1 : float
        lineshape : {'lorentzian', 'gaussian'}

        Returns
        -------
        RamanSpectrum
        """
        _check_channel(channel)
        if quantity not in QUANTITIES:
            raise ValueError(f"unknown quantity {quantity!r}; use one of {', '.join(map(repr, QUANTITIES))}")
        if lineshape not in LINESHAPES:
            raise ValueError(f"unknown lineshape '{lineshape}'; use one of {', '.join(repr(s) for s in LINESHAPES)}")
        if not fwhm_cm1 > 0:
            raise ValueError(f"fwhm_cm1 must be positive, got {fwhm_cm1}")
        active = self.active
        centres = self.frequencies_cm1[active]
        if quantity == "activity":
            weights, unit = self.activities(channel)[active], "A^4/amu/cm^-1"
        else:
            weights, unit = self.cross_sections(channel)[active], "cm^2/sr/cm^-1"
        if wavenumber_cm1 is None:
            step = min(1.0, fwhm_cm1 / 10.0)
            top = (centres.max() if centres.size else 0.0) + 10.0 * fwhm_cm1
            wavenumber_cm1 = np.arange(step, top, step)
        wavenumber_cm1 = np.asarray(wavenumber_cm1, dtype=float)
        if wavenumber_cm1.ndim != 1:
            raise ValueError(f"wavenumber_cm1 must be 1-D, got shape {wavenumber_cm1.shape}")
        intensity = _line_shapes(wavenumber_cm1, centres, fwhm_cm1, lineshape) @ weights
        metadata = {
            "method": "harmonic", "channel": channel, "quantity": quantity, "lineshape": lineshape,
            "fwhm_cm1": float(fwhm_cm1), "laser_wavelength_nm": self._laser_wavelength_nm,
            "temperature_K": self._temperature_K, "periodic": bool(self.periodic),
            "n_atoms": len(self._atoms), "formula": self._atoms.get_chemical_formula(),
            "polarizability_derivatives_source": str(self._source),
            "masses_amu": [float(m) for m in self._atoms.get_masses()],
            "ase_dipole_version": __version__, "phonopy_version": phonopy.__version__,
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
        }
        return RamanSpectrum(wavenumber_cm1=wavenumber_cm1, intensity=intensity,
                             error=np.zeros_like(intensity), unit=unit, metadata=metadata)

    def peak_table(self):
        """The mode table as text (one line per mode, header with units)."""
        lines = [
            f"# harmonic Raman of {self._atoms.get_chemical_formula()} ({len(self._atoms)} atoms), "
            f"ase-dipole {__version__}, phonopy {phonopy.__version__}",
            f"# dalpha/dx: {self._source}; laser {self._laser_wavelength_nm:g} nm; T = {self._temperature_K:g} K",
            "# mode  frequency_cm1  activity_A4/amu  depolarization  cross_section_cm2/sr  active",
        ]
        for n, (freq, activity, rho, sigma, active) in enumerate(zip(
                self.frequencies_cm1, self.activities(), self.depolarization_ratios,
                self.cross_sections(), self.active), 1):
            lines.append(f"{n:6d} {freq:14.4f} {activity:16.6e} {rho:15.6f} {sigma:20.6e} {int(active):7d}")
        return "\n".join(lines) + "\n"

    def write_peaks(self, path):
        """Write :meth:`peak_table` to ``path`` atomically."""
        write_text_atomic(path, self.peak_table())


def read_raman_peaks(path):
    """Read a table written by :meth:`HarmonicRaman.write_peaks`.

    Returns
    -------
    dict
        ``frequency_cm1``, ``activity_A4_amu``, ``depolarization``,
        ``cross_section_cm2_sr`` (M,) floats and ``active`` (M,) bool.
    """
    table = np.atleast_2d(np.loadtxt(os.fspath(path), comments="#"))
    return {"frequency_cm1": table[:, 1], "activity_A4_amu": table[:, 2], "depolarization": table[:, 3],
            "cross_section_cm2_sr": table[:, 4], "active": table[:, 5].astype(bool)}


# ---------------------------------------------------------------- finite temperature


def _channel_series(alphadot):
    """Isotropic ȧ (T, 1) and traceless Ḃ as (T, 6) with √2 on the off-diagonals,
    so that a row's squared norm is Tr(Ḃ Ḃ); input (T, 6) Voigt xx yy zz yz xz xy."""
    mean = alphadot[:, :3].mean(axis=1, keepdims=True)
    traceless = alphadot.copy()
    traceless[:, :3] -= mean
    traceless[:, 3:] *= np.sqrt(2.0)
    return mean, traceless


def raman_spectrum(logs, *, channel="total", quantity="cross_section", laser_wavelength_nm=DEFAULT_LASER_WAVELENGTH_NM,
                   temperature_K=None, fwhm_cm1=20.0, max_wavenumber_cm1=5000.0):
    r"""Finite-temperature Raman spectrum from α̇ logs, averaged over trajectories.

    Parameters
    ----------
    logs : PolarizabilityLog, path, or sequence of them
        NVE trajectories of one system at one temperature, one sample
        interval (:mod:`ase_dipole.dynamics.polarizability_log`).
    channel : {'total', 'parallel', 'perpendicular', 'isotropic', 'anisotropic'}
    quantity : {'cross_section', 'activity'}
        Activity density S(ν̃) (Å⁴/amu per cm⁻¹) or S(ν̃) times
        :func:`scattering_factor` (cm²/sr per cm⁻¹ per simulated system).
    laser_wavelength_nm : float
    temperature_K : float, optional
        β = 1/k_BT and the Bose factor; default the logs' ``temperature_K``.
    fwhm_cm1 : float
        Gaussian line width set by the time window, as in
        :func:`~ase_dipole.spectra.green_kubo.ir_spectrum`.
    max_wavenumber_cm1 : float or None
        Highest wavenumber kept (None: Nyquist).

    Returns
    -------
    RamanSpectrum
        On the rfft grid without ν̃ = 0 (where the cross-section diverges),
        mean over the logs and standard error std/√n (NaN for one log).
    """
    from ase_dipole.dynamics.polarizability_log import load_polarizability_logs

    weight_a, weight_g = _check_channel(channel)
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; use one of {', '.join(map(repr, QUANTITIES))}")
    laser_cm1 = check_laser_wavelength(laser_wavelength_nm)
    if not (np.isfinite(fwhm_cm1) and fwhm_cm1 > 0):
        raise ValueError(f"fwhm_cm1 must be a positive number of cm^-1, got {fwhm_cm1!r}")
    logs, dt_fs, temperature_K = load_polarizability_logs(logs, temperature_K)
    nyquist_cm1 = 1.0 / (2.0 * C_CM_PER_FS * dt_fs)
    if max_wavenumber_cm1 is None:
        max_wavenumber_cm1 = nyquist_cm1
    elif max_wavenumber_cm1 > nyquist_cm1 * (1 + 1e-12):
        raise ValueError(f"max_wavenumber_cm1={max_wavenumber_cm1:g} exceeds the Nyquist wavenumber "
                         f"{nyquist_cm1:.1f} cm^-1 of logs sampled every {dt_fs:g} fs; log more often")
    if max_wavenumber_cm1 >= laser_cm1:
        raise ValueError(f"max_wavenumber_cm1={max_wavenumber_cm1:g} reaches the laser wavenumber "
                         f"{laser_cm1:.1f} cm^-1 ({laser_wavelength_nm} nm); lower it")
    tau_fs, lag_fs, window, n_grid, wavenumber = spectral_grid(logs, dt_fs, fwhm_cm1)
    keep = (wavenumber > 0) & (wavenumber <= max_wavenumber_cm1 * (1 + 1e-12))
    beta = 1.0 / (KB_AMU_A2_FS2 * temperature_K)  # [fs² / (amu Å²)]
    spectra = []
    for log in logs:
        mean, traceless = _channel_series(log.alphadot)
        corr = (weight_a * _correlation(mean, None, len(window))
                + weight_g * 1.5 * _correlation(traceless, None, len(window)))  # [Å⁶/fs²]
        weighted = corr * window
        cosine = dt_fs * (np.fft.rfft(weighted, n=n_grid).real - 0.5 * weighted[0])  # [Å⁶/fs]
        spectra.append(4.0 * C_CM_PER_FS * beta * cosine[keep])  # [Å⁴/amu · cm]
    spectra = np.array(spectra)
    unit = "A^4/amu/cm^-1"
    if quantity == "cross_section":
        spectra = spectra * scattering_factor(wavenumber[keep], laser_wavelength_nm=laser_wavelength_nm,
                                              temperature_K=temperature_K)
        unit = "cm^2/sr/cm^-1"
    n_logs = len(logs)
    error = spectra.std(axis=0, ddof=1) / np.sqrt(n_logs) if n_logs > 1 else np.full(spectra.shape[1], np.nan)
    metadata = {
        "method": "green-kubo", "channel": channel, "quantity": quantity,
        "laser_wavelength_nm": float(laser_wavelength_nm), "temperature_K": temperature_K,
        "fwhm_cm1": float(fwhm_cm1), "window": "gaussian", "window_tau_fs": float(tau_fs),
        "window_cutoff_fs": float(lag_fs[-1]), "estimator": "unbiased",
        "max_wavenumber_cm1": float(max_wavenumber_cm1), "sample_interval_fs": dt_fs,
        "n_logs": n_logs, "n_samples": [int(len(log.time_fs)) for log in logs],
        "periodic": bool(logs[0].metadata.get("periodic")), "logs": [log.path for log in logs],
        "ase_dipole_version": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return RamanSpectrum(wavenumber_cm1=wavenumber[keep], intensity=spectra.mean(axis=0), error=error,
                         unit=unit, metadata=metadata)


def read_any_spectrum_csv(path):
    """An IR (:func:`~ase_dipole.spectra.green_kubo.read_spectrum_csv`) or Raman
    (:func:`read_raman_csv`) spectrum CSV, told apart by its first line."""
    from ase_dipole.spectra.green_kubo import read_spectrum_csv

    with open(path) as handle:
        first = handle.readline().rstrip("\n")
    return read_raman_csv(path) if first == CSV_MAGIC else read_spectrum_csv(path)
