"""The World Triathlon key is sent to World Triathlon's own hosts only, whatever the command."""

from __future__ import annotations

import pytest

from racetui.config import load_config
from racetui.sources.feed import apikey_for


@pytest.mark.parametrize(
    ("target", "sent"),
    [
        ("https://api.triathlon.org/v1/live/timing/307158", True),
        ("https://API.TRIATHLON.ORG/v1/live/timing/1", True),
        ("https://timer.example.org/results.json", False),
        ("http://127.0.0.1:8080/feeds/v1.1/2.json", False),
        ("/var/race/results.json", False),
        ("https://api.triathlon.org.evil.example/v1/live/timing/1", False),
    ],
)
def test_key_only_for_world_triathlon(monkeypatch: pytest.MonkeyPatch, target: str, sent: bool) -> None:
    monkeypatch.setenv("RACETUI_TRIATHLON_APIKEY", "k-secret")
    key = apikey_for(target, load_config())
    assert (key is not None and key.get_secret_value() == "k-secret") is sent


def test_no_key_configured_sends_none() -> None:
    assert apikey_for("https://api.triathlon.org/v1/live/timing/1", load_config()) is None
