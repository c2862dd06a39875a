"""Figure of the α-quartz Raman spectra: 300 K MD (mean ± standard error over
trajectories) against the harmonic one (same Gaussian width, 8 cells), and the
MD's isotropic and anisotropic channels. Writes ``results/raman_quartz.png``.

    python plot_raman.py
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ase_dipole.spectra.raman import read_raman_csv  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    result = lambda name: read_raman_csv(os.path.join(HERE, "results", name))
    md, harmonic = result("raman_md_300K.csv"), result("raman_harmonic_2x2x2.csv")
    channels = {c: result(f"raman_md_300K_{c}.csv") for c in ("isotropic", "anisotropic")}
    scale = 1e30
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    keep = md.wavenumber_cm1 >= 40
    error = np.nan_to_num(md.error[keep])
    top.fill_between(md.wavenumber_cm1[keep], scale * (md.intensity[keep] - error),
                     scale * (md.intensity[keep] + error), color="C0", alpha=0.3, lw=0)
    top.plot(md.wavenumber_cm1[keep], scale * md.intensity[keep], color="C0",
             label=f"CHGNet NVE 300 K ({md.metadata.get('n_logs', '?')} runs)")
    top.plot(harmonic.wavenumber_cm1, scale * harmonic.intensity, color="C1", label="harmonic (CHGNet phonons)")
    top.set_ylabel("dσ/dΩ (10⁻³⁰ cm²/sr/cm⁻¹)")
    top.legend(frameon=False)
    top.set_title(f"α-quartz 2×2×2, total Raman, 532 nm, FWHM {md.metadata.get('fwhm_cm1', '?')} cm⁻¹")
    for (name, spectrum), colour in zip(channels.items(), ("C2", "C3")):
        keep = spectrum.wavenumber_cm1 >= 40
        bottom.plot(spectrum.wavenumber_cm1[keep], scale * spectrum.intensity[keep], color=colour, label=f"MD {name}")
    bottom.set_xlabel("Raman shift (cm⁻¹)")
    bottom.set_ylabel("dσ/dΩ (10⁻³⁰ cm²/sr/cm⁻¹)")
    bottom.legend(frameon=False)
    bottom.set_xlim(0, 1300)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "results", "raman_quartz.png"), dpi=120)


if __name__ == "__main__":
    main()
