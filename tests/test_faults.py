"""Interrupted and failing runs: SIGINT or SIGTERM during `rules eval`, or a disk that fills up, leave
no output file behind (a previous one stays as it was) and say what happened, on every backend."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "customer_value.rules"


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """Enough rows that a run takes a few seconds on either backend."""
    lines = (ROOT / "examples" / "customer_value.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path_factory.mktemp("faults") / "big.csv"
    with open(path, "w", encoding="utf-8") as f:
        f.write(lines[0] + "\n")
        for i in range(1500):
            f.writelines(r.replace("C00", f"C{i:04d}", 1) + "\n" for r in lines[1:])
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("backend", ["duckdb", "python"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_leaves_no_partial_output(big, tmp_path, backend, sig):
    out = tmp_path / "decisions.csv"
    rejects = tmp_path / "rejects.csv"
    out.write_text("the previous run's output\n", encoding="utf-8")
    proc = subprocess.Popen(["rules", "eval", str(POLICY), "--data", str(big), "--out", str(out), "--rejects",
                             str(rejects), "--backend", backend, "--as-of", "2026-11-22"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not leftovers(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # until it has started writing
    assert proc.poll() is None, "the run ended before it could be interrupted; make the input bigger"
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: no output file was written or changed" in err and "Traceback" not in err
    assert out.read_text(encoding="utf-8") == "the previous run's output\n"
    assert not rejects.exists()
    assert leftovers(tmp_path) == []


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs (needs root, as in CI; REQUIRE_TMPFS=1 makes its absence a failure)."""
    mount = tmp_path / "full"
    mount.mkdir()
    can = os.geteuid() == 0 and shutil.which("mount") and sys.platform.startswith("linux")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True) if can else None
    if done is None or done.returncode != 0:
        if os.environ.get("REQUIRE_TMPFS"):
            pytest.fail(f"cannot mount a tmpfs: {done.stderr if done else 'not root'}")
        pytest.skip("mounting a small tmpfs needs root")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("backend, fmt", [("duckdb", "csv"), ("duckdb", "parquet"), ("duckdb", "jsonl"),
                                          ("python", "csv"), ("python", "jsonl")])
def test_a_full_disk_is_said_and_leaves_nothing(big, full_disk, backend, fmt):
    out = full_disk / f"decisions.{fmt}"
    done = subprocess.run(["rules", "eval", str(POLICY), "--data", str(big), "--out", str(out),
                           "--backend", backend, "--as-of", "2026-11-22"], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "No space left on device" in done.stderr and str(out) in done.stderr, done.stderr
    assert "no output file was changed" in done.stderr and "Traceback" not in done.stderr
    assert list(full_disk.iterdir()) == []
