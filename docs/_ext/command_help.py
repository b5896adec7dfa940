"""``.. command-help:: SUBCOMMAND ...``: the ``--help`` text of the ``redunet`` command line.

The text is produced at build time by :func:`redunet.cli.main`, so the documentation shows
exactly the options of the version it documents.
"""

import contextlib
import io
import os
import shlex

from docutils import nodes
from docutils.parsers.rst import Directive

HELP_WIDTH = "92"  # columns of the argparse help text


class CommandHelp(Directive):
    """A literal block holding ``redunet <arguments> --help``."""

    optional_arguments = 1
    final_argument_whitespace = True
    has_content = False

    def run(self):
        from redunet.cli import main

        arguments = shlex.split(self.arguments[0]) if self.arguments else []
        previous = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = HELP_WIDTH
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                status = main([*arguments, "--help"])
        finally:
            if previous is None:
                os.environ.pop("COLUMNS", None)
            else:
                os.environ["COLUMNS"] = previous
        if status != 0:
            raise self.error(f"`redunet {' '.join(arguments)} --help` exited with status {status}")
        text = f"$ redunet {' '.join([*arguments, '--help'])}\n{out.getvalue().rstrip()}"
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


def setup(app):
    app.add_directive("command-help", CommandHelp)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
