"""``ase-dipole label``: reference Born charges (and dipoles) for many frames,
one Dask task per frame, cached and resumable.

A thin layer over :func:`ase_dipole.reference.parallel.label_frames_parallel`.
"""

import datetime
import json
import os
import sys

#: API keywords passed under another name: an error naming one names the option
keywords = {"pseudopotentials": "pseudopotential", "acoustic_sum_rule": "asr"}

help = "label frames with reference Born charges / dipoles (xtb, pyscf or qe), in parallel and resumable"


def add_arguments(parser):
    from ase_dipole.distributed import add_cluster_arguments

    parser.add_argument("frames", nargs="+", metavar="FRAMES",
                        help="structures, any file ase.io.read understands (all frames are read)")
    parser.add_argument("-o", "--output", required=True, help="output extended-XYZ file")
    parser.add_argument("--method", required=True, choices=("xtb", "pyscf", "qe"),
                        help="xtb: GFN2-xTB (tblite), molecules; pyscf: DFT/HF (PySCF), "
                             "molecules; qe: Quantum ESPRESSO pw.x + ph.x, periodic insulators")
    parser.add_argument("--cache", default=None,
                        help="folder of per-frame results (default: OUTPUT.cache beside OUTPUT)")
    parser.add_argument("--no-dipole", action="store_true",
                        help="store Born charges only (implied by --method qe)")
    parser.add_argument("--no-born-charges", action="store_true",
                        help="store dipoles only (xtb, pyscf)")
    parser.add_argument("--property", choices=("born-charges", "polarizability"), default="born-charges",
                        help="born-charges: Z* (and the dipole); polarizability: alpha (A^3) and "
                             "d alpha/dx (A^2) by CPHF + central differences (pyscf only; and the dipole "
                             "unless --no-dipole)")
    parser.add_argument("--charge", type=int, default=0, help="total charge, e (xtb, pyscf)")
    xtb = parser.add_argument_group("xtb")
    xtb.add_argument("--xtb-method", default="GFN2-xTB", help="tblite parametrisation")
    xtb.add_argument("--accuracy", type=float, default=1e-4, help="tblite accuracy multiplier")
    xtb.add_argument("--step-A", type=float, default=1e-3, help="finite-difference step, Å")
    pyscf = parser.add_argument_group("pyscf")
    pyscf.add_argument("--xc", default="b3lyp", help="functional, or 'hf'")
    pyscf.add_argument("--basis", default="def2-svp", help="Gaussian basis set")
    qe = parser.add_argument_group("qe")
    qe.add_argument("--pseudopotential", action="append", default=[], metavar="SYMBOL=FILE",
                    help="pseudopotential file of one species (repeat for every species)")
    qe.add_argument("--pseudo-dir", default=None,
                    help="folder of the files (default: $ESPRESSO_PSEUDO or "
                         "/usr/share/espresso/pseudo)")
    qe.add_argument("--ecutwfc-Ry", type=float, default=30.0, help="orbital cut-off, Ry")
    qe.add_argument("--ecutrho-Ry", type=float, default=None,
                    help="density cut-off, Ry (default 4 × ecutwfc; 8–12 × for ultrasoft/PAW)")
    qe.add_argument("--kpts", type=int, nargs=3, default=(2, 2, 2), metavar="K",
                    help="Monkhorst-Pack grid")
    qe.add_argument("--kpoint-shift", type=int, nargs=3, default=(0, 0, 0), metavar="S",
                    help="grid shift per direction (0 or 1)")
    qe.add_argument("--asr", choices=("none", "simple"), default="none",
                    help="acoustic sum rule on Z*: none (as printed by ph.x) or simple "
                         "(subtract the mean, as dynmat.x)")
    qe.add_argument("--pw-command", default="pw.x", help="pw.x command (e.g. 'mpirun -np 4 pw.x')")
    qe.add_argument("--ph-command", default="ph.x", help="ph.x command")
    qe.add_argument("--keep-qe-outputs", action="store_true",
                    help="keep pw.x/ph.x inputs and outputs in CACHE/qe/<frame key>/")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_cluster_arguments(parser)


def _options(args, parser, cache):
    if args.method == "xtb":
        return {"method": args.xtb_method, "charge": args.charge, "accuracy": args.accuracy,
                "step_A": args.step_A}
    if args.method == "pyscf":
        return {"xc": args.xc, "basis": args.basis, "charge": args.charge}
    pseudopotentials = {}
    for item in args.pseudopotential:
        symbol, sep, name = item.partition("=")
        if not sep or not symbol or not name:
            parser.error(f"--pseudopotential {item!r}: use SYMBOL=FILE, e.g. Si=Si.pbe-rrkj.UPF")
        pseudopotentials[symbol] = name
    options = {"pseudopotentials": pseudopotentials, "ecutwfc_Ry": args.ecutwfc_Ry,
               "ecutrho_Ry": args.ecutrho_Ry, "kpts": list(args.kpts),
               "kpoint_shift": list(args.kpoint_shift),
               "acoustic_sum_rule": None if args.asr == "none" else args.asr,
               "pw_command": args.pw_command, "ph_command": args.ph_command}
    if args.pseudo_dir is not None:
        options["pseudo_dir"] = os.path.abspath(args.pseudo_dir)
    if args.keep_qe_outputs:
        options["keep_outputs"] = os.path.join(cache, "qe")
    return options


def run(args, parser):
    import ase.io

    from ase_dipole import __version__
    from ase_dipole.atomic import atomic_write, write_text_atomic
    from ase_dipole.distributed import client_from_args
    from ase_dipole.provenance import command_line, file_sha256
    from ase_dipole.reference.parallel import label_frames_parallel

    frames = []
    for path in args.frames:
        try:
            frames.extend(ase.io.read(path, index=":"))
        except (OSError, ValueError) as error:
            parser.error(f"cannot read FRAMES {path!r}: {error}")
    if not frames:
        parser.error(f"FRAMES {args.frames}: no structures found")
    if args.no_dipole and args.no_born_charges:
        parser.error("--no-dipole and --no-born-charges leave nothing to compute: drop one")
    if args.method == "qe" and args.no_born_charges:
        parser.error("--no-born-charges with --method qe: QE gives Born charges only")
    cache = args.cache or f"{args.output}.cache"
    options = _options(args, parser, cache)
    dipole = not (args.no_dipole or args.method == "qe")
    try:
        with client_from_args(args) as client:
            result = label_frames_parallel(frames, cache_dir=cache, method=args.method,
                                           dipole=dipole, polarizability=args.property == "polarizability",
                                           born_charges=not args.no_born_charges and args.property != "polarizability",
                                           client=client, progress=not args.quiet, options=options)
    except (ValueError, TypeError, ImportError, FileNotFoundError, ConnectionError) as error:
        parser.error(str(error))
    stamp = {"labelled_by": f"ase-dipole {__version__} label",
             "date": datetime.datetime.now().isoformat(timespec="seconds"),
             "command": command_line(args._argv),
             "inputs_sha256": ",".join(file_sha256(p) for p in args.frames)}
    for index, atoms in enumerate(result.frames):
        if atoms is not None:
            atoms.info.update(stamp, frame_index=index)
    if result.labelled:
        with atomic_write(args.output) as out:
            ase.io.write(out, result.labelled, format="extxyz")
        written = f"wrote {len(result.labelled)} to {args.output}"
    else:  # never replace an existing output with nothing
        written = (f"no frame labelled: {args.output} "
                   + ("kept as it was" if os.path.exists(args.output) else "not written"))
    failed_path = f"{args.output}.failed.json"
    print(f"label: {len(result.computed)} frame(s) computed, {len(result.reused)} reused from "
          f"{cache}, {len(result.failures)} failed; {written}")
    if result.failures:
        write_text_atomic(failed_path, json.dumps(
            {"command": stamp["command"], "date": stamp["date"], "failures": result.failures},
            indent=1) + "\n")
        for failure in result.failures:
            print(f"  frame {failure['index']} ({failure['formula']}): "
                  f"{parser.name_flags(failure['error'])}",
                  file=sys.stderr)
        print(f"label: {len(result.failures)} frame(s) failed, listed with their errors in "
              f"{failed_path}; rerun the same command to retry them", file=sys.stderr)
        return 2
    if os.path.exists(failed_path):
        os.unlink(failed_path)
    return 0
