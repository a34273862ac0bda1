"""The suite's own rules: no timed assertions, no today's date, and a skip is a failure."""
import ast
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

TESTS = pathlib.Path(__file__).parent
#: Clocks whose differences measure how long something took.
CLOCKS = {"monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "time", "time_ns"}


def _is_clock_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLOCKS
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "time")


def timed_assertions(source: str) -> list:
    """Line numbers of asserts that compare an elapsed time (``clock() - start``) to a bound."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assert):
            continue
        for part in ast.walk(node.test):
            if isinstance(part, ast.BinOp) and isinstance(part.op, ast.Sub) and (
                    _is_clock_call(part.left) or _is_clock_call(part.right)):
                found.append(node.lineno)
                break
    return found


def test_the_timed_assertion_finder():
    source = textwrap.dedent("""
        started = time.monotonic()
        assert time.monotonic() - started < 2
        assert (time.perf_counter() - t0) >= 0.4 and ok
        assert time.monotonic() < deadline, "no answer"
        assert reading.timestamp == int(time.time()) - 60
        assert x - y < 2
    """)
    assert timed_assertions(source) == [3, 4]


@pytest.mark.parametrize("path", sorted(TESTS.glob("*.py")), ids=lambda path: path.name)
def test_no_timed_assertions(path):
    """A test asserts what happened, never how long it took: a loaded machine must not fail it.

    Wait on a condition with a deadline instead, and assert the outcome (a
    message, a count, a log line). The finder flags ``clock() - x`` in an
    assert; ``time.time() - 60`` as a value is fine outside an assert.
    """
    assert timed_assertions(path.read_text()) == [], f"{path.name}: timed assertion(s) at these lines"


#: Calls that give today's date or the machine's local time when given no zone.
TODAY_CALLS = {"today", "now", "utcnow"}


def calls_to_today(source: str) -> list:
    """Line numbers of ``date.today()``, ``datetime.now()``, ``datetime.utcnow()`` (no zone given)."""
    return sorted(node.lineno for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in TODAY_CALLS and not node.args and not node.keywords)


def test_the_today_finder():
    source = textwrap.dedent("""
        day = datetime.date.today()
        when = datetime.datetime.now()
        fixed = datetime.datetime.now(ZoneInfo("UTC"))
        stamp = time.time()
        later = datetime.datetime.now(tz=UTC)
    """)
    assert calls_to_today(source) == [2, 3]


def test_no_test_takes_todays_date():
    """No test depends on today's date or the machine's zone: data gets fixed dates, and "now"
    comes from ``now=`` or time-machine (``tests/fixtures_clock.py``). ``time.time()`` stays allowed,
    for timestamps that the servers the tests start (carbon, the simulated app) compare with theirs."""
    found = {path.name: calls_to_today(path.read_text()) for path in sorted(TESTS.glob("*.py"))}
    assert {name: lines for name, lines in found.items() if lines} == {}


def test_a_skip_is_a_failure(tmp_path):
    (tmp_path / "conftest.py").write_text("from tests.suite_rules import pytest_runtest_makereport  # noqa: F401\n")
    (tmp_path / "test_it.py").write_text(textwrap.dedent("""
        import pytest

        def test_skipped():
            pytest.skip("chromium is not installed")

        @pytest.mark.xfail(reason="known")
        def test_known():
            assert False
    """))
    env = dict(os.environ, PYTHONPATH=str(TESTS.parent), COLUMNS="400")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                             "-c", os.devnull, "--rootdir", str(tmp_path), str(tmp_path)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert "1 failed, 1 xfailed" in result.stdout, result.stdout + result.stderr
    assert "skipped: chromium is not installed" in result.stdout
