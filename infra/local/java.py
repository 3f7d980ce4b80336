"""Finding a Java runtime (17 or newer) and Maven for the Kafka broker."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from helicon.infra.local.errors import LocalPlatformError

MINIMUM_JAVA_MAJOR = 17

_JAVA_INSTALL_HINT = (
    "install Java 17 or newer (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) "
    "or set JAVA_HOME to one"
)


def find_java() -> Path:
    """The ``java`` executable to run Kafka with: ``$JAVA_HOME/bin/java``, else ``java`` on PATH.

    Raises :class:`LocalPlatformError` when there is none or it is older than Java 17.
    """
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        java = Path(java_home) / "bin" / "java"
    else:
        found = shutil.which("java")
        if found is None:
            raise LocalPlatformError("Java not found (no `java` on PATH and JAVA_HOME unset)", _JAVA_INSTALL_HINT)
        java = Path(found)
    major = java_major_version(java)
    if major < MINIMUM_JAVA_MAJOR:
        raise LocalPlatformError(f"{java} is Java {major}; Kafka 4 needs Java {MINIMUM_JAVA_MAJOR}+", _JAVA_INSTALL_HINT)
    return java


def java_major_version(java: Path) -> int:
    """The major version that ``java -version`` reports (``1.8`` counts as 8)."""
    try:
        completed = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except OSError as error:
        raise LocalPlatformError(f"{java} cannot be run ({error.strerror})", _JAVA_INSTALL_HINT) from error
    match = re.search(r'version "(\d+)(?:\.(\d+))?', completed.stderr + completed.stdout)
    if completed.returncode != 0 or match is None:
        raise LocalPlatformError(f"{java} -version failed: {completed.stderr.strip()[:200]}", _JAVA_INSTALL_HINT)
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    return major


def find_maven() -> Path:
    """The ``mvn`` executable; only needed to fill the Kafka jar cache."""
    found = shutil.which("mvn")
    if found is None:
        raise LocalPlatformError(
            "Maven not found (no `mvn` on PATH); it is needed once, to fetch the Kafka jars",
            "install Maven (Debian/Ubuntu: apt-get install maven) and run `helicon local fetch`",
        )
    return Path(found)
