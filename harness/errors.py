"""Errors that end a command with one clear line and exit status 2."""


class UsageError(Exception):
    """Bad input or an environment that cannot run the command: print one line, exit 2."""


class ClusterError(UsageError):
    """A cluster could not be created, reached, or torn down."""
