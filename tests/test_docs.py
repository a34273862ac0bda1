"""The docs stay true: the CLI reference matches the parser, and Sphinx builds without warnings."""
import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cli_reference_is_generated_from_the_parser():
    spec = importlib.util.spec_from_file_location("gen_cli", os.path.join(ROOT, "docs", "gen_cli.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    with open(os.path.join(ROOT, "docs", "cli.rst")) as handle:
        assert handle.read() == gen.render(), "docs/cli.rst is stale: run python docs/gen_cli.py"


def test_sphinx_builds_without_warnings(tmp_path):
    """Sphinx's dummy builder reads, autodocs and cross-references every page, as the HTML build does,
    and so warns about the same sources; it only writes nothing (`make docs` writes the HTML)."""
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "dummy", os.path.join(ROOT, "docs"),
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
