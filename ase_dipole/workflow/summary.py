"""``summary.txt`` of a protocol run: one block per step that ran or was reused."""

import datetime
import os

from ase_dipole import __version__


def _reference_block(records):
    lines = []
    if "data" in records:
        data = records["data"]["results"]
        lines += ["Reference data", f"  {data['source']} ({data['reference']})",
                  "  frames: " + ", ".join(f"{n} {name}" for name, n in data["counts"].items())]
    if "label" in records:
        label = records["label"]["results"]
        select = records["select"]["results"]
        sample = records["sample"]["results"]
        lines += ["Reference data",
                  f"  {sample['n_frames']} sampled frames (Langevin through "
                  f"{', '.join(f'{t:g}' for t in sample['temperatures_K'])} K); "
                  f"{len(select['train'])} training frames by {select['method']}, "
                  f"{len(select['test'])} held-out frames spread uniformly",
                  f"  labelled with {label['reference']}; max |Σ_i Z*_i| "
                  f"{label['max_asr_violation_e']:.1e} e"]
    return lines + [""] if lines else []


def _fit_block(fit):
    if fit["kind"] == "fixed charges":
        return [f"Model: Born charges of {fit['source']} held fixed on {fit['n_atoms']} atoms",
                "  " + ", ".join(f"Z*({s}) diagonal "
                                 + " ".join(f"{z[a][a]:+.3f}" for a in range(3))
                                 for s, z in sorted(fit["born_charges_e"].items())) + " e",
                ""]
    lines = [
        f"Model: trained on {fit['targets']} ({fit['n_train']} training frames)",
        f"  held-out dipole RMSPE  {100 * fit['dipole_rmspe']:6.2f} %  "
        f"(RMSE {fit['dipole_rmse_eA']:.4f} e·Å over {fit['n_dipole_test']} held-out frames)"
        if fit["dipole_rmspe"] is not None else "  (no held-out dipoles: periodic frames)",
        f"  held-out Z* RMSPE      {100 * fit['born_rmspe']:6.2f} %  "
        f"(RMSE {fit['born_rmse_e']:.4f} e over {fit['n_born_test']} born_test frames)",
        "  RMSPE = RMSE / standard deviation of the test set (paper Fig. 1: about 1 % for the",
        "  dipole and 3 % for Z* with 100 Z* training frames, RPBE-D3)",
    ]
    curve = fit.get("learning_curve")
    if curve:
        lines.append("  learning curve:  n_train  dipole RMSPE  Z* RMSPE")
        lines += [f"  {n:23d}  {100 * d:10.2f} %  {100 * z:6.2f} %" for n, d, z in
                  zip(curve["sizes"], curve["dipole_rmspe"], curve["born_rmspe"])]
    return lines + [""]


def _compare_block(compare, spectrum_options):
    lines = [f"Spectra: {compare['unit']}, Gaussian lines of "
             f"{spectrum_options['fwhm_cm1']:g} cm⁻¹ FWHM"]
    if compare["bands"]:
        lines.append("  band     window_cm1    MD_centroid  harm_centroid  shift  tolerance  "
                     "MD_max  harm_max  area_MD/harm  agree")
        for name, b in compare["bands"].items():
            lines.append(
                f"  {name:<8} {b['window_cm1'][0]:4.0f}-{b['window_cm1'][1]:4.0f}  "
                f"{b['md']['centroid_cm1']:11.1f}  {b['harmonic']['centroid_cm1']:13.1f}  "
                f"{b['shift_cm1']:+5.1f}  {b['tolerance_cm1']:9.1f}  "
                f"{b['md']['maximum_cm1']:6.0f}  {b['harmonic']['maximum_cm1']:8.0f}  "
                f"{b['area_ratio']:12.3f}  {'yes' if b['agree'] else 'NO'}")
        agree = all(b["agree"] for b in compare["bands"].values())
        lines += ["  tolerance = FWHM + a fraction of the harmonic centroid (resolution plus "
                  "anharmonic and Verlet shifts)",
                  "  => the MD bands " + ("agree with" if agree else "DO NOT agree with")
                  + " the harmonic ones within the tolerance",
                  "  Band areas agree in the harmonic limit (docs/conventions.md) up to the "
                  "sampling noise of",
                  "  a few NVE trajectories; peak heights need not: MD lines carry anharmonic "
                  "dephasing (and, for",
                  "  a free molecule, its rotational envelope) on top of the window width."]
    lines.append("  matched peaks (harmonic -> MD, cm⁻¹): " + ", ".join(
        f"{h:.0f} -> {f:.0f}" for h, f in zip(compare["peaks"]["harmonic_cm1"],
                                              compare["peaks"]["finite_T_cm1"])))
    return lines + [""]


def _shown_path(path):
    """A shipped protocol by its place in the package, others as given."""
    from ase_dipole.workflow.protocol import PROTOCOL_DIR

    if os.path.dirname(os.path.abspath(path)) == PROTOCOL_DIR:
        return f"ase_dipole/workflow/protocols/{os.path.basename(path)} (shipped)"
    return path


def format_summary(protocol, records, plan, outdir, *, elapsed_s):
    """The text of ``summary.txt`` from the step records of a run."""
    system = protocol["system"]
    lines = [f"ase-dipole {__version__}: {system['title'] or 'protocol'} "
             f"({datetime.datetime.now().isoformat(timespec='seconds')})",
             f"protocol: {_shown_path(protocol.source)}", ""]
    structure = records["structure"]["results"]
    lines += [f"Structure: {structure['formula']}, {structure['n_atoms']} atoms, "
              + ("periodic" if structure["periodic"] else "molecule in a non-periodic box")
              + (f", relaxed in {structure['relax_steps']} BFGS steps"
                 if structure["energy_eV"] is not None else "")
              + f"; forces: {system['calculator']}", ""]
    lines += _reference_block(records)
    lines += _fit_block(records["fit"]["results"])
    if "harmonic" in records:
        harmonic = records["harmonic"]["results"]
        lines += [f"Harmonic (phonopy finite displacements, {system['calculator']} forces)",
                  "  modes (cm⁻¹, km/mol): " + ", ".join(
                      f"{f:.0f} ({i:.0f})" for f, i in zip(harmonic["frequencies_cm1"],
                                                           harmonic["intensities_km_mol"])),
                  f"  ({harmonic['n_low_modes']} modes below "
                  f"{protocol['harmonic']['low_mode_cm1']:g} cm⁻¹ left out)",
                  f"  max |Σ_i Z*_i| (acoustic sum rule) {harmonic['asr_violation_e']:.1e} e", ""]
    if "md" in records:
        md, options = records["md"]["results"], protocol["md"]
        lines += [f"MD: {options['n_trajectories']} NVE trajectories × {md['duration_ps']:g} ps "
                  f"at {options['temperature_K']:g} K on {md['n_atoms']} atoms, "
                  f"{options['timestep_fs']:g} fs steps, Ṗ logged every {options['interval']} "
                  "steps;",
                  f"  starts drawn from one {options['ensemble'].upper()} Langevin run (first after "
                  f"{options['equilibration_steps']} steps, then every "
                  f"{options['decorrelation_steps']}); {md['ms_per_step']:.2f} ms per MD step", ""]
    if "compare" in records:
        lines += _compare_block(records["compare"]["results"], protocol["spectrum"])
    lines.append("Steps (wall time, s)")
    for entry in plan:
        record = records[entry.step.name]
        tag = " (reused)" if entry.action == "skip" else ""
        lines.append(f"  {entry.step.name:<15} {record['elapsed_s']:7.1f}{tag}")
    lines.append(f"  this run        {elapsed_s:7.1f}")
    files = sorted(name for entry in plan for name in records[entry.step.name]["outputs"])
    lines += ["", f"Files in {outdir}:"] + [f"  {name}" for name in files]
    lines.append(f"  {os.path.join('steps', '<step>.json')} (inputs, digests, provenance)")
    return "\n".join(lines) + "\n"
