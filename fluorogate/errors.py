"""Errors raised at the boundary, where user input enters (files, configs, graphs).

A `UserError` is printed by the CLI as one line (`fluorogate: error: ...`) with a non-zero exit,
never as a traceback: the message must say what is wrong and where.
"""


class UserError(Exception):
    """Bad input from the user: a file, a shape, a dtype, a config value, an unsupported graph node."""


class MissingToolError(UserError):
    """An optional external program (Vivado, Vitis HLS, ...) is not on PATH."""

    def __init__(self, program: str, purpose: str):
        super().__init__(f"'{program}' is not on PATH; it is needed to {purpose}. "
                         "Everything before this step ran; run it again where the tool is installed.")
        self.program = program


class VerificationError(Exception):
    """A failed verification: two implementations disagree (a mismatching pixel, a wrong flag), a FIFO
    deadlock, a type that does not match the IR. The CLI prints it as one line and exits with status 1;
    the report written before it says where."""
