"""The one error type every layer raises; the CLI turns it into a single `rkt: ...` line.

Exit codes follow rkt: 254 for every failure of rkt's own, command-line usage included.
App exit codes are passed through by `rkt run` and never travel as exceptions.
"""

EXIT_FAILURE = 254
EXIT_USAGE = 254


class RktError(Exception):
    """A failure to report to the user as one line, without a traceback."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def within(self, context: str) -> "RktError":
        """The same error, prefixed with what was being worked on: `image "x": ...`."""
        err = type(self).__new__(type(self))
        RktError.__init__(err, f"{context}: {self.message}")
        err.__dict__.update({k: v for k, v in self.__dict__.items() if k != "message"})
        err.message = f"{context}: {self.message}"
        err.args = (err.message,)
        return err


class UsageError(RktError):
    """Bad command-line usage (unknown flag, conflicting flags, missing argument)."""

    exit_code = EXIT_USAGE


class FlagError(UsageError):
    """A flag the parser refused (unknown, missing value, bad value): printed as rkt prints
    cobra's flag errors, `Error: ...` after the command's help page (`help_page`)."""

    def __init__(self, message: str, help_page: str | None = None):
        super().__init__(message)
        self.help_page = help_page

    @classmethod
    def unknown(cls, arg: str, help_page: str | None) -> "FlagError":
        """pflag's words for a flag no command knows (`--x=1` names `--x`; `-x` its letter)."""
        if arg.startswith("--"):
            return cls(f"unknown flag: {arg.partition('=')[0]}", help_page)
        return cls(f"unknown shorthand flag: {arg[1:2]!r} in {arg}", help_page)


class ManifestError(RktError):
    """A manifest that breaks an appc rule; `path` is the JSON path of the bad field."""

    def __init__(self, path: str, rule: str):
        self.path = path
        self.rule = rule
        super().__init__(f"manifest: {path}: {rule}" if path else f"manifest: {rule}")
