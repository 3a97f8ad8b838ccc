"""The package's own error type: a mistake the user can fix, not a bug.

A flag out of range, a file that is not a checkpoint, a config that does not fit, MNIST that
could not be fetched: each is raised as a `UsageError` (or a subclass) whose message names
what was wrong and what was expected. The command line prints such an error as one line on
stderr and exits with status 2; any other exception is a bug and keeps its traceback.

Each subclass is also the built-in type a library user would catch (a bad config is a
ValueError), so code written against plain Python exceptions keeps working.
"""


class UsageError(Exception):
    """Something the user gave or asked for is wrong; the message says what and what was expected."""


class ConfigError(UsageError, ValueError):
    """A config value out of range, or configs that do not fit together."""
