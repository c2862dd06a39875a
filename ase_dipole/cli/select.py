"""``ase-dipole select``: the frames most worth labelling next.

A thin layer over :func:`ase_dipole.learning.selection.select_frames`.
"""

import json

import ase.io

from ase_dipole.learning.selection import CRITERIA

help = ("choose the K frames most worth labelling from trajectories or frame files: "
        "uncertain and mutually diverse (--by uncertainty) or diverse only (--by fps)")


def add_arguments(parser):
    parser.add_argument("inputs", metavar="TRAJ_OR_FRAMES", nargs="+",
                        help="candidate frames: ASE trajectories or any file ase.io.read understands")
    parser.add_argument("--n", type=int, required=True, metavar="K", help="number of frames to choose")
    parser.add_argument("--model", metavar="MODEL",
                        help="fitted model file (required for --by uncertainty; with --by fps its "
                             "descriptor defines the frame summaries)")
    parser.add_argument("--by", choices=CRITERIA, default="uncertainty",
                        help="uncertainty: largest model σ(Z*) × distance to the frames already "
                             "chosen; fps: farthest point sampling on frame summaries")
    parser.add_argument("--index", default=":", help="frames of each input to consider, ase.io.read syntax")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="extxyz of the chosen frames, ready for labelling")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args, parser):
    from ase_dipole.atomic import atomic_write
    from ase_dipole.learning.model import PolarizationModel, atom_sigma
    from ase_dipole.learning.selection import select_frames
    from ase_dipole.provenance import command_line, provenance

    if args.n < 1:
        parser.error(f"--n must be a positive number of frames, got {args.n}")
    if args.by == "uncertainty" and args.model is None:
        parser.error("--by uncertainty needs --model MODEL (a model fitted by 'ase-dipole fit')")
    model = None
    if args.model is not None:
        try:
            model = PolarizationModel.load(args.model)
        except (OSError, ValueError) as error:
            parser.error(f"--model: {error}")
        if args.by == "uncertainty" and not model.has_uncertainty:
            parser.error(f"--model {args.model}: the model has no posterior statistics (written by "
                         "an older ase-dipole); refit it with 'ase-dipole fit'")
    frames, origin = [], []
    for path in args.inputs:
        try:
            read = ase.io.read(path, index=args.index)
        except (OSError, ValueError, KeyError, StopIteration) as error:
            parser.error(f"cannot read {path}: {error}")
        read = read if isinstance(read, list) else [read]
        frames.extend(read)
        origin.extend((path, number) for number in range(len(read)))
    if not frames:
        parser.error(f"no frames in {' '.join(args.inputs)} (--index {args.index})")
    if args.n > len(frames):
        parser.error(f"--n {args.n} is more than the {len(frames)} candidate frames")
    try:
        chosen = select_frames(frames, args.n, by=args.by, model=model, progress=not args.quiet)
    except ValueError as error:
        parser.error(str(error))
    record = provenance(inputs=[*args.inputs, *([args.model] if args.model else [])],
                        model_sha256=model.sha256 if model is not None else None,
                        command=command_line(args._argv))
    out = []
    for rank, index in enumerate(chosen):
        atoms = frames[index].copy()
        atoms.calc = None
        path, number = origin[index]
        atoms.info.update(selected_rank=rank, selected_from=f"{path}@{number}", selected_by=args.by,
                          selection_provenance=json.dumps(record, sort_keys=True))
        if args.by == "uncertainty":
            atoms.info["max_atom_sigma_born_e"] = float(atom_sigma(model.predict_std(frames[index])[1]).max())
        out.append(atoms)
    with atomic_write(args.output) as handle:
        ase.io.write(handle, out, format="extxyz")
    summary = ", ".join(f"{origin[i][0]}@{origin[i][1]}" for i in chosen[:10])
    more = f" … ({len(chosen)} in all)" if len(chosen) > 10 else ""
    print(f"chose {len(chosen)} of {len(frames)} frames by {args.by}: {summary}{more}")
    print(f"wrote {args.output}")
    return 0
