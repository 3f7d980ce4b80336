"""The Apache Kafka jars, resolved from Maven Central with Maven into a verified cache.

The cache lives at ``$HELICON_CACHE_DIR`` (default ``$XDG_CACHE_HOME/helicon``, else
``~/.cache/helicon``) under ``kafka-<version>/``: ``libs/`` holds the jars and ``manifest.json``
their sizes and SHA-256 digests, written last, so that an interrupted fetch is never mistaken for a
complete one and a damaged jar is found before the broker fails on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from helicon.infra.local.errors import LocalPlatformError
from helicon.infra.local.java import find_maven

KAFKA_VERSION = "4.4.0"
MANIFEST_NAME = "manifest.json"


def default_cache_root() -> Path:
    """Where Helicon caches downloads when ``HELICON_CACHE_DIR`` is unset."""
    if explicit := os.environ.get("HELICON_CACHE_DIR"):
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "helicon"


def bundled_file(name: str) -> Path:
    """A file shipped in ``helicon/infra/local/kafka/`` (the pom and the log4j2 config)."""
    return Path(str(resources.files("helicon.infra.local") / "kafka" / name))


@dataclass(frozen=True)
class KafkaJarCache:
    """The verified jar cache for one Kafka version."""

    root: Path
    version: str = KAFKA_VERSION

    @classmethod
    def default(cls) -> "KafkaJarCache":
        return cls(default_cache_root())

    @property
    def directory(self) -> Path:
        return self.root / f"kafka-{self.version}"

    @property
    def libs(self) -> Path:
        return self.directory / "libs"

    @property
    def classpath(self) -> str:
        """A Java class path naming every jar in the cache."""
        return str(self.libs / "*")

    def is_present(self) -> bool:
        return (self.directory / MANIFEST_NAME).is_file()

    def ensure(self) -> None:
        """Fetch the jars if the cache is empty, then verify them."""
        if not self.is_present():
            self.fetch()
        self.verify()

    def fetch(self, force: bool = False) -> None:
        """Resolve the jars with Maven into the cache, replacing it whole.

        Maven's own repository (``~/.m2``) keeps the downloads, so a refetch is quick.
        """
        if self.is_present() and not force:
            return
        maven = find_maven()
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".kafka-{self.version}-", dir=self.root))
        try:
            completed = subprocess.run(
                [
                    str(maven), "-B", "-q",
                    "-f", str(bundled_file("pom.xml")),
                    f"-Dkafka.version={self.version}",
                    "dependency:copy-dependencies",
                    "-DincludeScope=runtime",
                    f"-DoutputDirectory={staging / 'libs'}",
                ],
                capture_output=True, text=True, timeout=1800,
            )
            if completed.returncode != 0:
                last_line = _last_error_line(completed.stdout + completed.stderr)
                raise LocalPlatformError(
                    f"Maven could not resolve Apache Kafka {self.version}: {last_line}",
                    "check that Maven Central is reachable (or a mirror in ~/.m2/settings.xml), then rerun `helicon local fetch`",
                )
            _write_manifest(staging)
            if self.directory.exists():
                shutil.rmtree(self.directory)
            staging.rename(self.directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def verify(self) -> None:
        """Check every jar against the manifest; raise naming the first damaged file."""
        fix = "run `helicon local fetch --force` to fetch the Kafka jars again"
        manifest_path = self.directory / MANIFEST_NAME
        try:
            manifest: dict[str, dict[str, object]] = json.loads(manifest_path.read_text())
        except (OSError, ValueError) as error:
            raise LocalPlatformError(f"the Kafka jar cache at {self.directory} is corrupt ({manifest_path.name}: {error})", fix) from error
        present = {jar.name for jar in self.libs.glob("*.jar")}
        if missing := sorted(set(manifest) - present):
            raise LocalPlatformError(f"the Kafka jar cache at {self.directory} is corrupt ({missing[0]} is missing)", fix)
        if unexpected := sorted(present - set(manifest)):
            raise LocalPlatformError(f"the Kafka jar cache at {self.directory} is corrupt ({unexpected[0]} is not in the manifest)", fix)
        for name, expected in sorted(manifest.items()):
            jar = self.libs / name
            if jar.stat().st_size != expected["size"] or _sha256(jar) != expected["sha256"]:
                raise LocalPlatformError(f"the Kafka jar cache at {self.directory} is corrupt ({name} does not match its checksum)", fix)


def _write_manifest(directory: Path) -> None:
    jars = sorted((directory / "libs").glob("*.jar"))
    if not any(jar.name.startswith("kafka_") for jar in jars):
        raise LocalPlatformError(f"Maven produced no Kafka jar in {directory}", "rerun `helicon local fetch --force`")
    manifest = {jar.name: {"size": jar.stat().st_size, "sha256": _sha256(jar)} for jar in jars}
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=True))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line]
    return (errors or lines or ["no output"])[0][:300]
