"""The ``helicon`` command line."""
