"""Writers of MD trajectory formats ASE cannot write (test fixtures): LAMMPS
text dumps in a given unit style, and a vasprun.xml of an MD run."""

import numpy as np
from ase import units

#: LAMMPS velocity unit per Å/fs, by unit style
LAMMPS_VELOCITY_PER_A_FS = {"real": 1.0, "metal": 1e3}


def write_lammps_dump(path, frames, *, unit_style, element_column=True):
    """``ITEM: ATOMS id type [element] x y z vx vy vz`` per frame; an
    orthogonal periodic box; velocities in the unit style's unit."""
    factor = LAMMPS_VELOCITY_PER_A_FS[unit_style]
    symbols = frames[0].get_chemical_symbols()
    types = {symbol: number for number, symbol in enumerate(dict.fromkeys(symbols), 1)}
    with open(path, "w") as handle:
        for step, atoms in enumerate(frames):
            lengths = np.diag(atoms.cell.array)
            columns = "id type element x y z vx vy vz" if element_column else "id type x y z vx vy vz"
            handle.write(f"ITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n{len(atoms)}\n")
            handle.write("ITEM: BOX BOUNDS pp pp pp\n")
            for length in lengths:
                handle.write(f"0.0 {length:.10f}\n")
            handle.write(f"ITEM: ATOMS {columns}\n")
            velocities = atoms.get_velocities() * units.fs * factor
            for i, (symbol, position, velocity) in enumerate(
                    zip(symbols, atoms.positions, velocities), 1):
                element = f" {symbol}" if element_column else ""
                handle.write(f"{i} {types[symbol]}{element} "
                             + " ".join(f"{x:.10f}" for x in position) + " "
                             + " ".join(f"{v:.10e}" for v in velocity) + "\n")


def write_vasprun_md(path, frames):
    """vasprun.xml of an MD run: atominfo, initial structure and one
    <calculation> (structure, forces, energy) per ionic step, positions in
    fractional coordinates, as VASP writes them. Energies (eV) and forces
    (eV/Å) are those of each frame's calculator (the MD's)."""
    symbols = frames[0].get_chemical_symbols()

    def structure(atoms, name=None):
        attribute = f' name="{name}"' if name else ""
        rows = "".join(f"    <v> {' '.join(f'{x:.10f}' for x in row)} </v>\n" for row in atoms.cell.array)
        positions = "".join(f"   <v> {' '.join(f'{x:.10f}' for x in row)} </v>\n"
                            for row in atoms.get_scaled_positions(wrap=False))
        return (f" <structure{attribute}>\n  <crystal>\n   <varray name=\"basis\" >\n{rows}"
                f"   </varray>\n   <i name=\"volume\">{atoms.get_volume():.10f}</i>\n  </crystal>\n"
                f"  <varray name=\"positions\" >\n{positions}  </varray>\n </structure>\n")

    with open(path, "w") as handle:
        handle.write('<?xml version="1.0" encoding="ISO-8859-1"?>\n<modeling>\n')
        handle.write(' <atominfo>\n  <atoms>%d</atoms>\n  <array name="atoms" >\n'
                     '   <field type="string">element</field>\n   <field type="int">atomtype</field>\n'
                     '   <set>\n' % len(symbols))
        for symbol in symbols:
            handle.write(f"    <rc><c>{symbol:2s}</c><c>   1</c></rc>\n")
        handle.write("   </set>\n  </array>\n </atominfo>\n")
        handle.write(' <kpoints>\n  <varray name="kpointlist" >\n   <v> 0.0 0.0 0.0 </v>\n  </varray>\n'
                     '  <varray name="weights" >\n   <v> 1.0 </v>\n  </varray>\n </kpoints>\n')
        handle.write(structure(frames[0], "initialpos"))
        for atoms in frames:
            energy = atoms.get_potential_energy()
            energies = (f'   <i name="e_fr_energy"> {energy:.10f} </i>\n'
                        f'   <i name="e_wo_entrp"> {energy:.10f} </i>\n'
                        f'   <i name="e_0_energy"> {energy:.10f} </i>\n')
            handle.write(" <calculation>\n")
            handle.write(f"  <scstep>\n   <energy>\n{energies}   </energy>\n  </scstep>\n")
            handle.write(structure(atoms))
            handle.write('  <varray name="forces" >\n')
            for force in atoms.get_forces():
                handle.write(f"   <v> {' '.join(f'{x:.10f}' for x in force)} </v>\n")
            handle.write(f"  </varray>\n  <energy>\n{energies}  </energy>\n </calculation>\n")
        handle.write("</modeling>\n")
