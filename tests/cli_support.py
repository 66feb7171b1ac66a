"""`losslint` on the command line, in-process, for the tests: one `invoke` for every suite."""
from __future__ import annotations

from click.testing import CliRunner

from losslint.cli import main


def invoke(*args):
    """`losslint ARGS` in-process; a crash (an exception other than SystemExit, or a traceback in the output)
    fails the test that ran it."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result
