"""setup.sh, which test.sh and toy.sh source: a .venv that does not match requirements.txt is rebuilt, and a
.venv that is a link (a checkout sharing another's venv) is replaced as a link: the venv it names, which
the other checkout still uses, is never touched. `python3 -m venv` and pip are stand-ins here (a script
that writes an empty venv and logs its calls), so the test is fast and needs no network."""
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAKE_PYTHON3 = """#!/bin/sh
# python3 -m venv DIR: an empty venv whose pip logs what it is asked to install
echo "python3 $*" >> "$SETUP_LOG"
mkdir -p "$3/bin"
printf '#!/bin/sh\\necho "pip $*" >> "$SETUP_LOG"\\n' > "$3/bin/pip"
printf '#!/bin/sh\\n' > "$3/bin/python"
chmod +x "$3/bin/pip" "$3/bin/python"
"""


@pytest.fixture
def checkout(tmp_path):
    """A checkout holding setup.sh and a requirements.txt, with the fake python3 first on PATH."""
    folder = tmp_path / "checkout"
    folder.mkdir()
    shutil.copy(REPO / "setup.sh", folder)
    (folder / "requirements.txt").write_text("numpy\ntqdm\n")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python3").write_text(FAKE_PYTHON3)
    (fake / "python3").chmod(0o755)
    return folder


def venv(folder: Path, stamp: str) -> Path:
    """A venv-shaped folder (bin/python) stamped with the hash of the requirements it was built from."""
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").write_text("#!/bin/sh\n")
    (folder / "bin" / "python").chmod(0o755)
    (folder / ".requirements.sha256").write_text(stamp + "\n")
    return folder


def source_setup(checkout: Path) -> tuple[str, list[str]]:
    log = checkout.parent / "calls.log"
    log.touch()
    env = {**os.environ, "PATH": f"{checkout.parent / 'bin'}:{os.environ['PATH']}", "SETUP_LOG": str(log)}
    run = subprocess.run(["bash", "-c", f"source {checkout / 'setup.sh'}"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout, log.read_text().splitlines()


def wanted(checkout: Path) -> str:
    return hashlib.sha256((checkout / "requirements.txt").read_bytes()).hexdigest()


def test_a_stale_venv_link_is_replaced_and_the_venv_it_names_is_kept(checkout, tmp_path):
    shared = venv(tmp_path / "shared-venv", "the other checkout's requirements")
    (shared / "lib").mkdir()
    (shared / "lib" / "site-packages.txt").write_text("torch")
    (checkout / ".venv").symlink_to(shared)
    out, calls = source_setup(checkout)
    assert "replacing the link" in out
    assert (shared / "lib" / "site-packages.txt").read_text() == "torch"  # the shared venv is untouched
    assert (shared / ".requirements.sha256").read_text() == "the other checkout's requirements\n"
    local = checkout / ".venv"
    assert local.is_dir() and not local.is_symlink()
    assert (local / ".requirements.sha256").read_text().strip() == wanted(checkout)
    assert calls[0] == "python3 -m venv .venv" and calls[-1] == "pip install --quiet -r requirements.txt"


def test_a_matching_venv_link_is_used_as_it_is(checkout, tmp_path):
    shared = venv(tmp_path / "shared-venv", wanted(checkout))
    (checkout / ".venv").symlink_to(shared)
    out, calls = source_setup(checkout)
    assert calls == [] and out == ""
    assert (checkout / ".venv").is_symlink()


def test_a_stale_venv_folder_is_rebuilt(checkout):
    stale = venv(checkout / ".venv", "old requirements")
    (stale / "leftover").write_text("from the old venv")
    out, calls = source_setup(checkout)
    assert "creating .venv" in out and not (stale / "leftover").exists()
    assert (checkout / ".venv" / ".requirements.sha256").read_text().strip() == wanted(checkout)
    assert calls[0] == "python3 -m venv .venv"
