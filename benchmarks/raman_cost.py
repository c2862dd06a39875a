"""The two cost figures of issue 26 (docs/raman.md, docs/speed.md): μ + Z* +
α + ∂α/∂x in one calculator call against μ + Z* alone, and one α̇ row of the
:class:`PolarizabilityObserver` against one Ṗ row of the IR
:class:`DipoleObserver`, on 192-atom liquid water, single-thread CPU time.

    python benchmarks/raman_cost.py [--repeats 15] [--alpha-cutoff 4.0] [--alpha-n-max 4]

Set-up: the dipole model is the default :class:`PolarizationModel` of
``benchmarks/speed.py`` (r_c 4.0 Å, n_max 8, l_max 4, fitted on the Z* of
three paper-water frames); the polarizability model a
:class:`PolarizabilityModel` of the given cut-off (default the dipole model's,
so both see the same 5066 pairs) and n_max, with random coefficients (seed 0:
the cost does not depend on their values). The box is paper-water frame 10.
Each call first moves the atoms (two position/velocity sets 0.01 Å apart,
alternated), so calculators and observers recompute what an MD step would.

Rows are interleaved with a 1024³ dgemm, ``--repeats`` rounds, after one
warm-up round; the ratios are those of the per-round times of the two rows
(median over the rounds) and of their medians. The load average is printed
before and after.
"""

import argparse
import os
import statistics
import tempfile

import numpy as np
from ase import units
from ase.calculators.calculator import all_changes
from ase.md.verlet import VelocityVerlet
from common import (default_model, interleaved_cpu_times, machine_description, paper_water_frame,
                    ratios, single_thread)
from speed import moving

from ase_dipole.dynamics.calculator import DipoleCalculator
from ase_dipole.dynamics.observer import DipoleObserver
from ase_dipole.dynamics.polarizability_calculator import PolarizabilityCalculator
from ase_dipole.dynamics.polarizability_log import PolarizabilityObserver
from ase_dipole.learning.polarizability import PolarizabilityModel

#: the pairs of rows whose ratio the issue bounds (numerator, denominator, bound)
RATIOS = (("mu + Z* + alpha + dalpha, one call", "mu + Z*, DipoleCalculator", 2.5),
          ("PolarizabilityObserver row", "DipoleObserver row", 2.0))


def alpha_model(cutoff, n_max):
    """A :class:`PolarizabilityModel` of water with random coefficients (seed 0)."""
    model = PolarizabilityModel(["H", "O"], cutoff=cutoff, n_max=n_max)
    model.coefficients = np.random.default_rng(0).normal(size=model.n_columns)
    return model


def one_call(calculator, atoms, names):
    """All of ``names`` from one ``calculate`` (what ``get_property`` does for
    one name: the results of the previous positions dropped first)."""
    calculator.reset()
    calculator.calculate(atoms, names, all_changes)


def rows(dipole_model, polarizability_model, repeats, scratch):
    """Interleaved single-thread CPU times (s per call, one entry per round)."""
    atoms = paper_water_frame(10)
    atoms.calc = None
    mu_atoms, both_atoms, ir_atoms, raman_atoms = (atoms.copy() for _ in range(4))
    mu_step, both_step, ir_step, raman_step = (moving(a) for a in (mu_atoms, both_atoms, ir_atoms, raman_atoms))
    mu_calculator = DipoleCalculator(dipole_model)
    both_calculator = PolarizabilityCalculator(polarizability_model, calculator=DipoleCalculator(dipole_model))
    dipole_names = ["dipole", "born_effective_charges"]
    all_names = dipole_names + ["polarizability", "polarizability_derivatives"]
    ir_observer = DipoleObserver(ir_atoms, dipole_model, os.path.join(scratch, "ir.log"), timestep_fs=0.5,
                                 uncertainty_interval=0)  # the bare Ṗ row (σ(Z*) every 100 rows by default)
    dyn = VelocityVerlet(raman_atoms, 0.5 * units.fs)
    raman_observer = PolarizabilityObserver(dyn, polarizability_model, os.path.join(scratch, "raman.alog"))

    def mu_call():
        mu_step()
        one_call(mu_calculator, mu_atoms, dipole_names)

    def both_call():
        both_step()
        one_call(both_calculator, both_atoms, all_names)

    def ir_row():
        ir_step()
        ir_observer()

    def raman_row():
        raman_step()
        raman_observer()

    tasks = {"mu + Z*, DipoleCalculator": mu_call, "mu + Z* + alpha + dalpha, one call": both_call,
             "DipoleObserver row": ir_row, "PolarizabilityObserver row": raman_row,
             "alpha + dalpha, model.predict": lambda: polarizability_model.predict(atoms)}
    times = interleaved_cpu_times(tasks, repeats)
    ir_observer.close()
    raman_observer.close()
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--alpha-cutoff", type=float, default=None,
                        help="cut-off of the polarizability model, Å (default: the dipole model's)")
    parser.add_argument("--alpha-n-max", type=int, default=4)
    args = parser.parse_args()
    print(f"before: {machine_description()}")
    dipole_model = default_model()
    cutoff = dipole_model.descriptor.cutoff if args.alpha_cutoff is None else args.alpha_cutoff
    polarizability_model = alpha_model(cutoff, args.alpha_n_max)
    with single_thread(), tempfile.TemporaryDirectory() as scratch:
        times = rows(dipole_model, polarizability_model, args.repeats, scratch)
    print(f"after:  load average {os.getloadavg()[0]:.2f}")
    print(f"\n192-atom liquid water; dipole model r_c {dipole_model.descriptor.cutoff} Å; polarizability "
          f"model r_c {cutoff} Å, n_max {args.alpha_n_max}; one thread, {args.repeats} interleaved rounds")
    print(f"{'':38} {'CPU ms':>9} {'/ dgemm':>8}")
    for name, (seconds, ratio) in ratios(times).items():
        print(f"{name:38} {seconds * 1e3:9.3f} {ratio:8.3f}")
    print()
    for numerator, denominator, bound in RATIOS:
        per_round = statistics.median(np.array(times[numerator]) / np.array(times[denominator]))
        of_medians = statistics.median(times[numerator]) / statistics.median(times[denominator])
        print(f"{numerator} / {denominator}: {per_round:.2f} (median of rounds), "
              f"{of_medians:.2f} (of medians); issue bound {bound}")


if __name__ == "__main__":
    main()
