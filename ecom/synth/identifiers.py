"""Random identifiers in the shapes TheLook uses: hex SKUs, UUID session ids, IPv4 addresses."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEX_ALPHABET = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hex_strings(
    rng: np.random.Generator, size: int, n_bytes: int, upper: bool = True
) -> np.ndarray:
    """Random hex strings of 2 * n_bytes characters, vectorised through a byte view."""
    alphabet = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8) if upper else HEX_ALPHABET
    nibbles = rng.integers(0, 16, (size, 2 * n_bytes))
    return alphabet[nibbles].view(f"S{2 * n_bytes}").ravel().astype(str)


def uuid_strings(rng: np.random.Generator, size: int) -> pa.Array:
    """Version-4-shaped UUIDs (8-4-4-4-12 lower-case hex) as an Arrow string array."""
    nibbles = HEX_ALPHABET[rng.integers(0, 16, (size, 32))]
    nibbles[:, 12] = ord("4")
    chars = np.full((size, 36), ord("-"), dtype=np.uint8)
    chars[:, np.r_[0:8, 9:13, 14:18, 19:23, 24:36]] = nibbles
    return pa.array(chars.view("S36").ravel(), type=pa.binary()).cast(pa.string())


def ipv4_strings(rng: np.random.Generator, size: int) -> pa.Array:
    """Public-looking IPv4 addresses as an Arrow string array."""
    octets = [pc.cast(pa.array(rng.integers(low, 255, size)), pa.string()) for low in (11, 0, 0, 1)]
    return pc.binary_join_element_wise(*octets, ".")
