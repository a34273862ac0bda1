"""The cookie file and the browser-free request (unit level)."""
import json
import os
import stat

from xfinity_usage.sources.session import cookies_for, domain_matches, load_cookies, save_cookies

ORIGIN = "https://customer.xfinity.com"


def test_domain_matching():
    assert domain_matches("customer.xfinity.com", ".xfinity.com")
    assert domain_matches("customer.xfinity.com", "customer.xfinity.com")
    assert not domain_matches("customer.xfinity.com", "evil.com")
    assert not domain_matches("xfinity.com.evil.com", "xfinity.com")
    assert not domain_matches("customer.xfinity.com", "")


def test_only_matching_cookies_are_sent():
    cookies = [
        {"name": "s_sess", "value": "a", "domain": ".xfinity.com", "path": "/"},
        {"name": "other", "value": "b", "domain": "example.com", "path": "/"},
        {"name": "scoped", "value": "c", "domain": "customer.xfinity.com", "path": "/apis"},
        {"name": "elsewhere", "value": "d", "domain": "customer.xfinity.com", "path": "/billing"},
        {"name": "expired", "value": "e", "domain": "customer.xfinity.com", "path": "/", "expiry": 1},
        {"name": "secure", "value": "f", "domain": "customer.xfinity.com", "path": "/", "secure": True},
    ]
    assert cookies_for(ORIGIN + "/apis/services/internet/usage", cookies) == {
        "s_sess": "a", "scoped": "c", "secure": "f"}
    assert "secure" not in cookies_for("http://customer.xfinity.com/apis/x", cookies)


def test_save_and_load(tmp_path):
    path = tmp_path / "new" / "cookies.json"
    save_cookies(str(path), [{"name": "s_sess", "value": "v", "domain": "customer.xfinity.com"}], ORIGIN)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert load_cookies(str(path), ORIGIN) == [{"name": "s_sess", "value": "v", "domain": "customer.xfinity.com"}]


def test_corrupt_foreign_or_missing_files_are_ignored_with_a_warning(tmp_path, caplog):
    assert load_cookies(str(tmp_path / "absent.json"), ORIGIN) is None
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\x00{not json")
    assert load_cookies(str(bad), ORIGIN) is None
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps([{"name": "x", "value": "y"}]))   # a 3.0.4-style or other tool's file
    assert load_cookies(str(foreign), ORIGIN) is None
    other_site = tmp_path / "other.json"
    save_cookies(str(other_site), [{"name": "a", "value": "b", "domain": "x"}], "https://example.com")
    assert load_cookies(str(other_site), ORIGIN) is None
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 3
