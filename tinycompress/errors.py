"""Error types. A `UserError` is bad input: its message is one line naming the problem and the fix."""


class TinyCompressError(Exception):
    """Base class of every error tinycompress raises on purpose."""


class UserError(TinyCompressError):
    """Bad input from the user (file, option, model). The CLI prints it as one line and exits 2."""


class UnsupportedModelError(UserError):
    """The model uses operators or parameters that tinycompress cannot compile."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(
            f"model not supported ({len(self.problems)} problem(s)): " + "; ".join(self.problems)
        )


def one_line(text: str, limit: int = 2000) -> str:
    """`text` as one printable line: whitespace runs become one space, other unprintable
    characters (from names inside a model, say) are escaped, and it is cut at `limit`."""
    text = " ".join(str(text).split())
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class OpCompileError(UserError):
    """An operator's check or lowering failed unexpectedly (an exception other than a refusal)
    on a model that reached it: a malformed or unusual model, or a tinycompress bug. Named by
    the op; the exception is chained (`__cause__`), so --debug shows where it came from."""

    def __init__(self, op: str, cause: BaseException):
        self.op = op
        reason = one_line(f"{type(cause).__name__}: {cause}", 300)
        super().__init__(f"{op}: cannot compile: {reason}; this model is malformed or unusual; "
                         "report it with the --debug output")


class VerificationError(TinyCompressError):
    """Generated code did not build or run as expected (not a mismatch: those are reported)."""
