"""One seed, many generators: each decision's randomness derives from the seed and stable ids.

Deriving from ids (not from a shared generator consumed in arrival order) is what makes the
same scenario and seed give the same records whatever order concurrent tasks finish in.
"""

from __future__ import annotations

import hashlib
import random


def derive(seed: int, *parts: object) -> random.Random:
    digest = hashlib.sha256(repr((seed, *parts)).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
