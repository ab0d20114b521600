"""Errors a user can cause and fix. The CLI turns these into one-line messages and an exit code."""


class KcliError(Exception):
    """Base class for errors caused by input or configuration, not by a bug.

    The message must say what is wrong and, where it can, how to fix it.
    """

    exit_code = 2


class ManifestError(KcliError):
    """A path that is not a readable kcli manifest."""


class ManifestSchemaError(ManifestError):
    """A manifest whose columns do not match the schema (missing or mistyped column)."""


class ConfigError(KcliError):
    """A configuration file or option that cannot be used (unknown key, bad value)."""


class MissingDependencyError(KcliError):
    """An optional dependency is not installed; the message carries the install command."""


class PathOutsideManifestError(ManifestError):
    """A path read from a manifest (an image path, a blob dir) that leads outside what kcli may read.

    Nothing is read from such a path; the row that holds it fails with :attr:`reason`.
    """

    reason = "path_outside_manifest"
