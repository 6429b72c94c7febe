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


class VerificationError(UserError):
    """Two computations that must agree bit for bit do not (a mismatch between back ends): the message
    names what was compared, on what, and the first difference."""
