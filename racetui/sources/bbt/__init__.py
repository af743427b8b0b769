"""The BBT local API 1.1: wire reading (:mod:`.wire`), message handling without I/O
(:mod:`.decoder`, what replay uses) and the client (:mod:`.client`: sessions, push,
polling, backoff, keepalive). The contract and what racetui accepts beyond it are in
``docs/bbt-api.md``."""

from racetui.sources.bbt.client import API_PREFIX, BBTError, BBTSource
from racetui.sources.bbt.decoder import BBTDecoder, RestInfo
from racetui.sources.bbt.wire import BadData

__all__ = ["API_PREFIX", "BBTDecoder", "BBTError", "BBTSource", "BadData", "RestInfo"]
