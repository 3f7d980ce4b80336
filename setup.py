"""Maps the fixed top-level folders onto the ``helicon.*`` namespace (metadata is in pyproject.toml).

Every sub-package of ``runtime/``, ``infra/``, ``components/`` and ``stacks/`` is found here, so a new
module folder needs no packaging change.
"""

from setuptools import find_packages, setup

NAMESPACE_ROOTS = {
    "helicon.runtime": "runtime",
    "helicon.infra": "infra",
    "helicon.components": "components",
    "helicon.stacks": "stacks",
}

packages: list[str] = []
for package, folder in NAMESPACE_ROOTS.items():
    packages.append(package)
    packages.extend(f"{package}.{sub}" for sub in find_packages(folder))

setup(package_dir=NAMESPACE_ROOTS, packages=packages)
