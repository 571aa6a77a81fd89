import re

import numpy as np
import pytest

from jacobench import JacobenchError
from jacobench.units import format_bytes, itemsize, parse_bytes, resolve_dtype


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100000", 100_000),
        (100_000, 100_000),
        (0, 0),
        ("0", 0),
        ("17B", 17),
        ("1kB", 1_000),
        ("1KB", 1_000),
        ("1KiB", 1_024),
        ("512MiB", 512 * 2**20),
        ("512mib", 512 * 2**20),
        ("2GiB", 2 * 2**30),
        ("2 GiB", 2 * 2**30),
        (" 2GiB ", 2 * 2**30),
        ("1.5GB", 1_500_000_000),
        ("1.5GiB", 3 * 2**29),
        ("0.5TB", 500_000_000_000),
        ("1TiB", 2**40),
        ("1PB", 10**15),
        ("2PiB", 2**51),
        (".5MB", 500_000),
        ("3.", 3),
        ("1.5B", 1),  # rounded down to whole bytes
        ("0.1KiB", 102),
    ],
)
def test_parse_bytes(text, expected):
    assert parse_bytes(text) == expected


ACCEPTED = re.escape(
    "expected a number of bytes such as 100000, or a number with a unit such as 512MiB, 2GiB or "
    "1.5GB (binary units KiB, MiB, GiB, TiB, PiB; decimal units kB, MB, GB, TB, PB; B for bytes)"
)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "'' is not understood"),
        ("two GiB", "'two GiB' is not understood"),
        ("2 GiBs", "'2 GiBs' is not understood"),
        ("2k", "'2k' is not understood"),
        ("-1GiB", "'-1GiB' is not understood"),
        ("1e9", "'1e9' is not understood"),
        ("1,000", "'1,000' is not understood"),
        (-5, "-5 is negative"),
        (1.5, "1.5 is of type float"),
        (True, "True is of type bool"),
        (None, "None is of type NoneType"),
    ],
)
def test_parse_bytes_rejects_bad_input_naming_the_value_and_the_accepted_forms(value, why):
    with pytest.raises(JacobenchError, match=f"^memory size {re.escape(why)}; {ACCEPTED}$"):
        parse_bytes(value)


@pytest.mark.parametrize(
    ("n_bytes", "text", "text_up"),
    [
        (0, "0 B", "0 B"),
        (1023, "1023 B", "1023 B"),
        (1024, "1 KiB", "1 KiB"),
        (1536, "1.5 KiB", "1.5 KiB"),
        (4_000_000, "3.81 MiB", "3.82 MiB"),
        (2 * 2**30, "2 GiB", "2 GiB"),
        (2 * 2**30 + 1, "2 GiB", "2.01 GiB"),
        (1_500_000_000, "1.4 GiB", "1.4 GiB"),
        (3 * 2**40, "3 TiB", "3 TiB"),
        (5 * 2**60, "5120 PiB", "5120 PiB"),
    ],
)
def test_format_bytes(n_bytes, text, text_up):
    assert format_bytes(n_bytes) == text
    assert format_bytes(n_bytes, round_up=True) == text_up
    assert parse_bytes(text_up.replace(" ", "")) >= n_bytes


@pytest.mark.parametrize(
    ("dtype", "size"),
    [("float32", 4), ("float64", 8), ("float16", 2), ("bfloat16", 2), ("complex64", 8),
     ("int8", 1), (np.float64, 8), (np.dtype("int32"), 4)],
)  # fmt: skip
def test_itemsize(dtype, size):
    assert itemsize(dtype) == size
    assert resolve_dtype(dtype).itemsize == size


@pytest.mark.parametrize("dtype", ["float33", "U3", "object", "V8", None, 3.5])
def test_unknown_dtype(dtype):
    with pytest.raises(
        JacobenchError,
        match=f"^unknown dtype {re.escape(repr(dtype))}; expected a numeric dtype name such as "
        "'float16', 'bfloat16', 'float32', 'float64' or 'complex64'$",
    ):
        resolve_dtype(dtype)
