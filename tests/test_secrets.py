"""The password does not show itself."""
import pickle

import pytest

from xfinity_usage import XfinityUsage
from xfinity_usage.secrets import Secret, mask


def test_client_hides_the_password():
    client = XfinityUsage("me@example.com", "Canary-Pass-42", browser_name="chrome-headless",
                          cookie_file="/nonexistent/cookies.json")
    for text in (repr(client), str(client), repr(vars(client)), str(vars(client))):
        assert "Canary-Pass-42" not in text


def test_secret_reveals_only_on_request():
    secret = Secret("Canary-Pass-42")
    assert "Canary" not in repr(secret) and "Canary" not in str(secret) and "Canary" not in f"{secret}"
    assert secret.reveal() == "Canary-Pass-42"
    with pytest.raises(TypeError):
        pickle.dumps(secret)  # never serialised by accident


def test_mask():
    assert mask("user me@example.com typed Canary", ["Canary", "", "me@example.com"]) == (
        "user ******** typed ********")
