"""``X-Robots-Tag`` opt-outs: a site's "do not use for AI training" signal, read from response headers.

The header may repeat; each value is a comma-separated list of directives, optionally scoped to one
crawler by a ``<user-agent token>:`` prefix (Google's robots meta/header specification). ``noai`` and
``noimageai`` are the directives image dataset tools honour (img2dataset does the same check). An
unscoped directive applies to everyone; a scoped one only when the token is kcli's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def optout_directive(values: Iterable[str], token: str, directives: Sequence[str]) -> str | None:
    """Return the first opt-out directive that applies to ``token``, or None."""
    wanted = {d.strip().lower() for d in directives}
    for value in values:
        scope, _, rest = value.partition(":")
        # "kcli: noai" is scoped; "noai, noimageai" is not (a directive itself never holds a colon,
        # except unavailable_after, whose date part a split on the first colon leaves intact here).
        if rest and scope.strip().lower() not in wanted and " " not in scope.strip() and "," not in scope:
            if scope.strip().lower() != token.lower():
                continue
            items = rest
        else:
            items = value
        for item in items.split(","):
            name = item.strip().lower()
            if name in wanted:
                return name
    return None
