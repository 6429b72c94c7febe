"""The two errors a user sees as one line instead of a traceback; every other exception is a bug.

- `UserError`: bad input where it enters (a file, a shape, a config value, an unsupported graph node).
  The CLI prints `fluorogate: error: ...` and exits 2: the message says what is wrong and where.
- `VerificationError`: the input was fine but a check of the contract failed (a back end's output
  differs from the integer reference, a FIFO deadlocked, hls4ml's types disagree with the IR). The CLI
  prints `fluorogate: verification failed: ...` and exits 1, like a failed test: the message says which
  joint, how many values and where the first one is.
"""


class UserError(Exception):
    """Bad input from the user: a file, a shape, a dtype, a config value, an unsupported graph node."""


class MissingToolError(UserError):
    """An optional external program (Vivado, Vitis HLS, ...) is not on PATH."""

    def __init__(self, program: str, purpose: str):
        super().__init__(
            f"'{program}' is not on PATH; it is needed to {purpose}. "
            "Everything before this step ran; run it again where the tool is installed."
        )
        self.program = program


class VerificationError(Exception):
    """A failed verification: two implementations disagree (a mismatching pixel, a wrong flag), a FIFO
    deadlock, a type that does not match the IR. The CLI prints it as one line and exits with status 1;
    the report written before it says where."""
