"""The pretrained CHGNet potential as an ASE calculator, built where it runs.

``make_calculator`` is the ``module:factory`` spec ``chgnet_factory:make_calculator``
that :func:`ase_dipole.dynamics.md.run_ir_md` builds on each worker (this
folder on ``PYTHONPATH``). CHGNet 0.3.0's weights ship in the chgnet wheel:
nothing is downloaded. One torch thread (one worker per core).
"""

import warnings

CHGNET_MODEL = "0.3.0"


def make_calculator(threads=1):
    """CHGNet 0.3.0 on the CPU with ``threads`` torch threads."""
    try:
        import torch
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator
    except ImportError as err:
        raise ImportError(f"this example needs CHGNet: pip install torch==2.13.0 chgnet ({err})") from err
    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    model = CHGNet.load(model_name=CHGNET_MODEL, use_device="cpu", verbose=False)
    return CHGNetCalculator(model=model, use_device="cpu")
