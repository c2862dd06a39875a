"""Dielectric function of liquid water from the dipole logs of run_liquid_water.py.

Reads the NVE dipole logs that ``run_liquid_water.py`` writes to
``work/full/md/traj_*.log`` (4 × 10 ps, 64 H2O, SPC/Fw forces, λ-SOAP Z*) and
writes to ``results/``:

- ``dielectric.csv``: ε''(ω), ε'(ω) (Kramers–Kronig and the direct μ route),
  n(ω), κ(ω), α(ω) and α n(ω) with standard errors over the trajectories
  (:func:`ase_dipole.spectra.dielectric.dielectric_function`), every fourth
  grid point (5 cm⁻¹ apart, 4 per FWHM) up to 4000 cm⁻¹;
- ``dielectric.png``: the four panels of
  :func:`ase_dipole.spectra.plot.plot_dielectric`, with ε∞ stated and the
  Bertie–Lan α n in the α n panel;
- ``dielectric_low.png``: the same below 2400 cm⁻¹ (libration and bend,
  which the stretch dwarfs on a common scale);
- ``dielectric_alpha_n.png``: α n of the dielectric route against the
  Bertie–Lan α n and against ``ir_spectrum`` (the two simulated curves coincide);
- ``dielectric_summary.json``: ε(0) from the dipole fluctuations and from
  Kramers–Kronig, the band table of α and α n, the route checks, settings.

ε∞ = 1.77 = 1.33², the square of water's refractive index in the visible
(n_D = 1.333 at 20 °C): the electronic response, which the dipole model does
not contain. Usage::

    python examples/liquid_water/run_liquid_water.py   # once, ~25 min: the logs
    python examples/liquid_water/dielectric.py          # seconds
"""

import argparse
import dataclasses
import glob
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bands import BANDS, band_peak, band_table  # noqa: E402

#: Bertie & Lan (1996), digitized; origin and licence in tests/data/water_ir_expt/SOURCE.md
EXPERIMENT = os.path.join(HERE, os.pardir, os.pardir, "tests", "data", "water_ir_expt",
                          "IR_light_expt_BertieLan1996_digitized.txt")
#: the experimental file holds n(ω)α(ω) in 10³ cm⁻¹
EXPERIMENT_SCALE = 1000.0  # [cm⁻¹ / (10³ cm⁻¹)]
#: ε∞ of liquid water: n² in the visible, 1.33² (n_D = 1.333 at 20 °C)
EPSILON_INF = 1.77
#: resolution, as the spectrum of run_liquid_water.py
FWHM_CM1 = 20.0
#: highest wavenumber written
MAX_WAVENUMBER_CM1 = 4000.0
#: keep every THIN-th grid point in the committed CSV
THIN = 4


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--workdir", default=os.path.join(HERE, "work", "full"),
                        help="the run_liquid_water.py work directory (its md/traj_*.log)")
    parser.add_argument("--results", default=os.path.join(HERE, "results"), help="output folder")
    parser.add_argument("--epsilon-inf", type=float, default=EPSILON_INF,
                        help="electronic dielectric constant (n^2 in the visible)")
    args = parser.parse_args(argv)

    from ase_dipole import __version__
    from ase_dipole.provenance import provenance
    from ase_dipole.spectra.dielectric import dielectric_function, static_susceptibility
    from ase_dipole.spectra.green_kubo import ir_spectrum, read_experiment
    from ase_dipole.spectra.plot import plot_dielectric, plot_spectra

    logs = sorted(glob.glob(os.path.join(args.workdir, "md", "traj_*.log")))
    if not logs:
        parser.error(f"no dipole logs in {os.path.join(args.workdir, 'md')}; run "
                     "run_liquid_water.py first (about 25 minutes)")
    os.makedirs(args.results, exist_ok=True)
    result = dielectric_function(logs, epsilon_inf=args.epsilon_inf, fwhm_cm1=FWHM_CM1,
                                 max_wavenumber_cm1=MAX_WAVENUMBER_CM1)
    spectrum = ir_spectrum(logs, fwhm_cm1=FWHM_CM1, max_wavenumber_cm1=MAX_WAVENUMBER_CM1)
    experiment = read_experiment(EXPERIMENT, scale=EXPERIMENT_SCALE)
    static = static_susceptibility(logs)
    per_trajectory = [static_susceptibility(path) for path in logs]

    peak = spectrum.intensity.max()
    alpha_n_deviation = float(np.max(np.abs(result.alpha_n_cm1 - spectrum.intensity[1:])) / peak)
    eps_peak = float(result.eps_imag[result.wavenumber_cm1 > 100.0].max())
    routes = np.abs(result.eps_real - result.eps_real_dipole)
    above = result.wavenumber_cm1 > 100.0

    thinned = dataclasses.replace(result, **{
        f.name: getattr(result, f.name)[::THIN] for f in dataclasses.fields(result)
        if isinstance(getattr(result, f.name), np.ndarray)})
    record = provenance(inputs=logs, command="python examples/liquid_water/dielectric.py")
    thinned.metadata = dict(result.metadata, logs=[os.path.relpath(p, HERE) for p in logs],
                            thinned_every=THIN, command=record["command"],
                            inputs=[dict(entry, path=os.path.relpath(entry["path"], HERE))
                                    for entry in record["inputs"]],
                            epsilon_inf_source="n^2 of liquid water in the visible, 1.33^2")
    thinned.write_csv(os.path.join(args.results, "dielectric.csv"))
    title = (f"liquid H$_2$O, 300 K, 4 × 10 ps NVE (SPC/Fw, λ-SOAP Z*); "
             f"$\\varepsilon_\\infty$ = {args.epsilon_inf:g} (n$^2$, visible)")
    plot_dielectric(result, os.path.join(args.results, "dielectric.png"), xlim=(0, MAX_WAVENUMBER_CM1),
                    title=title, experiment_alpha_n=experiment, experiment_label="Bertie & Lan 1996")
    plot_dielectric(result, os.path.join(args.results, "dielectric_low.png"), xlim=(0, 2400),
                    title=title, experiment_alpha_n=experiment, experiment_label="Bertie & Lan 1996")
    plot_spectra({"α n = ωε''/c (dielectric route)": result.alpha_n_spectrum(),
                  "α n (ir_spectrum)": spectrum},
                 os.path.join(args.results, "dielectric_alpha_n.png"), experiment=experiment,
                 experiment_label="Bertie & Lan 1996 (n α)", xlim=(0, MAX_WAVENUMBER_CM1), title=title)

    bands = []
    for name, low, high in (("hydrogen-bond stretch", 100.0, 400.0),) + BANDS:
        inside = (result.wavenumber_cm1 >= low) & (result.wavenumber_cm1 <= high)
        position, height, area = band_peak(result.wavenumber_cm1, result.absorption_cm1, low, high)
        bands.append(dict(band=name, window_cm1=[low, high], alpha_peak_cm1=round(position, 1),
                          alpha_height_cm1=round(height, 1), alpha_area_cm2=round(area, 0),
                          n_min=round(float(result.refractive_index[inside].min()), 3),
                          n_max=round(float(result.refractive_index[inside].max()), 3),
                          eps_imag_peak=round(float(result.eps_imag[inside].max()), 3),
                          eps_real_kk_vs_dipole_route_max=round(float(routes[inside].max()), 3),
                          eps_real_kk_vs_dipole_route_relative_to_eps_imag_peak=round(
                              float(routes[inside].max() / result.eps_imag[inside].max()), 3)))
    summary = dict(
        epsilon_inf=args.epsilon_inf,
        epsilon_inf_source="n^2 of liquid water in the visible (n_D = 1.333 at 20 C), 1.33^2",
        eps_static_fluctuation=static.epsilon_static(args.epsilon_inf),
        eps_static_fluctuation_error=static.isotropic_error,
        eps_static_per_trajectory=[s.epsilon_static(args.epsilon_inf) for s in per_trajectory],
        eps_static_per_trajectory_block_error=[s.isotropic_error for s in per_trajectory],
        eps_static_kramers_kronig=result.metadata["eps_static_kk"],
        eps_static_kramers_kronig_error=result.metadata["eps_static_kk_error"],
        static_tensor_without_epsilon_inf=static.tensor.tolist(),
        alpha_n_max_deviation_from_ir_spectrum_relative=alpha_n_deviation,
        eps_imag_peak_above_100_cm1=eps_peak,
        eps_real_kk_vs_dipole_route_max_above_100_cm1=float(routes[above].max()),
        eps_real_kk_vs_dipole_route_max_above_100_cm1_relative_to_eps_imag_peak=float(
            routes[above].max() / eps_peak),
        eps_real_kk_vs_dipole_route_max_below_100_cm1=float(routes[~above].max()),
        absorption_bands=bands,
        alpha_n_bands_vs_bertie_lan=band_table(result.alpha_n_spectrum(), experiment),
        n_at_4000_cm1=float(result.refractive_index[-1]),
        temperature_K=result.metadata["temperature_K"],
        fwhm_cm1=FWHM_CM1, n_logs=len(logs), n_samples=result.metadata["n_samples"],
        volume_A3=result.metadata["volume_A3"],
        ase_dipole_version=__version__, date=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    with open(os.path.join(args.results, "dielectric_summary.json"), "w") as handle:
        json.dump(summary, handle, indent=1)
    print(json.dumps({key: summary[key] for key in (
        "eps_static_fluctuation", "eps_static_fluctuation_error", "eps_static_per_trajectory",
        "eps_static_kramers_kronig", "eps_static_kramers_kronig_error",
        "alpha_n_max_deviation_from_ir_spectrum_relative",
        "eps_real_kk_vs_dipole_route_max_above_100_cm1_relative_to_eps_imag_peak",
        "eps_real_kk_vs_dipole_route_max_below_100_cm1", "absorption_bands")}, indent=1))
    return summary


if __name__ == "__main__":
    main()
