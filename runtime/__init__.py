"""Helicon's runtime: what runs inside the deployed containers and on the local platform.

It installs and runs without Pulumi (``pip install 'helicon[runtime]'``).
"""
