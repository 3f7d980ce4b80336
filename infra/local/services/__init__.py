"""One module per service of the local platform."""
