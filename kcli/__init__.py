"""The ``kcli`` command line: thin Typer commands over the ``kdata`` and ``ktrain`` libraries."""
