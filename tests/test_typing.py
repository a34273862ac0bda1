"""The package type-checks: mypy over xfinity_usage with the project's mypy.ini (part of `make test`)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_mypy_passes_on_the_package(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), "xfinity_usage"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout


def test_the_package_says_it_is_typed():
    assert os.path.isfile(os.path.join(ROOT, "xfinity_usage", "py.typed"))
    with open(os.path.join(ROOT, "setup.py"), encoding="utf-8") as handle:
        assert '"py.typed"' in handle.read()
