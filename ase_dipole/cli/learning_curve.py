"""``ase-dipole learning-curve``: held-out errors against the training-set size.

A thin layer over :func:`ase_dipole.learning.learning_curve.learning_curve`.
"""

from ase_dipole.cli.fit import add_model_arguments, model_from_args, read_frames
from ase_dipole.learning.learning_curve import learning_curve
from ase_dipole.learning.model import TARGETS
from ase_dipole.provenance import command_line, provenance

help = "learning curve (table, CSV, plot) of the polarization model on held-out frames"


def add_arguments(parser):
    parser.add_argument("train", metavar="TRAIN", help="pool of training frames (extxyz)")
    parser.add_argument("test", metavar="TEST", help="held-out frames (extxyz)")
    parser.add_argument("--sizes", type=int, nargs="+", required=True, help="numbers of training frames")
    parser.add_argument("--series", choices=TARGETS, nargs="+", default=["born"],
                        help="target selections to compare (one curve each)")
    parser.add_argument("-o", "--output", "--csv", metavar="PATH", dest="output",
                        help="write the table as CSV (with provenance); the table is printed "
                             "either way")
    parser.add_argument("--plot", metavar="PATH", help="write the plot (.png/.pdf/.svg)")
    add_model_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args, parser):
    model = model_from_args(args, parser)  # validates the options once
    train = read_frames(args.train, parser)
    test = read_frames(args.test, parser)
    try:
        curve = learning_curve({targets: train for targets in args.series}, test, sizes=args.sizes,
                               parameters=model.parameters, progress=not args.quiet)
    except ValueError as error:
        parser.error(str(error))
    print(curve.table())
    if args.output:
        record = provenance(inputs=[args.train, args.test], command=command_line(args._argv))
        record["model_parameters"] = model.parameters
        record["series"] = list(args.series)
        curve.write_csv(args.output, provenance=record)
        print(f"wrote {args.output}")
    if args.plot:
        curve.plot(args.plot, title=f"held-out RMSPE ({args.test})")
        print(f"wrote {args.plot}")
    return 0
