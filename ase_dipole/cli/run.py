"""``ase-dipole run``: the whole protocol of a TOML file, step by step
(:func:`ase_dipole.workflow.steps.run_protocol`).

Finished steps whose inputs did not change are skipped; an edited protocol
reruns the steps it touches, and the command says which and why.
"""

import os
import shlex
import sys

help = ("run a protocol file: structure, sampling/selection/labelling or data, fit, MD, "
        "spectrum, harmonic, comparison (finished steps are reused)")


def add_arguments(parser):
    from ase_dipole.distributed import add_cluster_arguments

    parser.add_argument("protocol", help="protocol file (TOML; see ase_dipole/workflow/protocols/)")
    parser.add_argument("-o", "--outdir", default=None,
                        help="output folder (default: the protocol file's name without .toml)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        dest="settings",
                        help="override a protocol key (TOML value), e.g. md.temperature_K=300; "
                             "repeatable")
    parser.add_argument("--force", action="store_true", help="rerun every step")
    parser.add_argument("--dry-run", action="store_true",
                        help="only say which steps would run, rerun or be reused, and why")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_cluster_arguments(parser)


def run(args, parser):
    from ase_dipole.workflow.protocol import ProtocolError, load_protocol, parse_override
    from ase_dipole.workflow.steps import plan_protocol, run_protocol

    try:
        overrides = dict(((section, key), value) for section, key, value in
                         map(parse_override, args.settings))
        protocol = load_protocol(args.protocol, overrides=overrides)
    except (ProtocolError, FileNotFoundError) as error:
        parser.error(str(error))
    outdir = args.outdir or os.path.splitext(os.path.basename(args.protocol))[0]
    if args.dry_run:
        try:
            print("\n".join(plan_protocol(protocol, outdir, force=args.force)))
        except (ProtocolError, FileNotFoundError) as error:
            parser.error(str(error))
        return 0
    cluster = dict(workers=args.workers, scheduler=args.scheduler, slurm_jobs=args.slurm_jobs,
                   slurm_options=args.slurm_option or None,
                   connect_timeout_s=args.connect_timeout_s)
    try:
        result = run_protocol(protocol, outdir, force=args.force, cluster=cluster,
                              threads=args.threads, stream=None if args.quiet else sys.stderr,
                              command="ase-dipole " + shlex.join(args._argv))
    except (ImportError, OSError, ValueError, TypeError, RuntimeError) as error:
        parser.error(str(error))
    with open(result.summary_path) as handle:
        print(handle.read(), end="")
    return 0
