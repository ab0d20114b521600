"""Errors of the publish stage; the CLI prints them as one line (they are :class:`KcliError`)."""

from kdata.errors import KcliError


class PublishError(KcliError):
    """An export that cannot be made as asked (nothing to publish, an occupied output folder)."""


class HubError(PublishError):
    """The Hub cannot be reached or refused the upload (offline, no token, no access)."""
