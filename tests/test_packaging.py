"""The distribution: one `helicon` namespace, nothing bare in site-packages, data files shipped."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_wheel_installs_everything_under_helicon(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)],
                   check=True, timeout=600, capture_output=True)
    wheel = next(tmp_path.glob("helicon-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/", 1)[0] for name in names}
    assert top_level == {"helicon", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    assert "helicon/__init__.py" not in names, "helicon must stay a namespace package"
    for expected in ("helicon/runtime/cli/main.py", "helicon/infra/local/platform.py", "helicon/stacks/program.py",
                     "helicon/components/__init__.py", "helicon/infra/local/kafka/pom.xml",
                     "helicon/stacks/Pulumi.prod.yaml"):
        assert expected in names
