"""The ``jinli`` command line."""
