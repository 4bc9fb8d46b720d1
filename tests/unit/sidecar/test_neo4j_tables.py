"""The neo4j driver's import-time tables, swapped for computed ones (checks/neo4j.py says why)."""

from __future__ import annotations

import calendar
import io

import pytest

from healthgate_sidecar import optional
from healthgate_sidecar.checks import neo4j as neo4j_check

with optional.without("numpy", "pandas", "pyarrow"):
    import neo4j.time
    from neo4j._codec.packstream import v1, v2

neo4j_check._drop_tables()


def test_the_tables_are_gone() -> None:
    for table in (neo4j.time._IS_LEAP_YEAR, neo4j.time._DAYS_IN_YEAR, neo4j.time._DAYS_IN_MONTH):
        assert isinstance(table, neo4j_check._Computed)
    for module in (v1, v2):
        assert isinstance(module.PACKED_UINT_16, neo4j_check._Computed)
        assert isinstance(module.UNPACKED_UINT_16, neo4j_check._Computed)


def test_computed_entries_are_what_the_tables_held() -> None:
    times = neo4j.time
    for year in range(times.MIN_YEAR, times.MAX_YEAR + 1):
        assert times._IS_LEAP_YEAR[year] is calendar.isleap(year)
        assert times._DAYS_IN_YEAR[year] == (366 if calendar.isleap(year) else 365)
        for month in (1, 2, 12):
            assert times._DAYS_IN_MONTH[year, month] == calendar.monthrange(year, month)[1]
    for value in (0, 1, 255, 256, 0x1234, 0xFFFF):
        assert v1.PACKED_UINT_16[value] == value.to_bytes(2, "big")
        assert v2.UNPACKED_UINT_16[value.to_bytes(2, "big")] == value


def test_lookups_outside_the_tables_fail_as_they_did() -> None:
    with pytest.raises(KeyError):
        neo4j.time._DAYS_IN_MONTH[10_000, 1]
    with pytest.raises(KeyError):
        neo4j.time._IS_LEAP_YEAR[0]
    with pytest.raises(IndexError):
        v1.PACKED_UINT_16[0x10000]


def test_the_driver_still_does_dates_and_packing() -> None:
    assert neo4j.time.Date(2024, 2, 29).days_in_month(2024, 2) == 29
    with pytest.raises(ValueError, match="Day"):
        neo4j.time.Date(2023, 2, 29)
    february = neo4j.time.Date(2024, 3, 1) - neo4j.time.Date(2024, 2, 1)
    assert february == neo4j.time.Duration(days=29)
    stream = io.BytesIO()
    packer = v1.Packer(stream)  # type: ignore[no-untyped-call]
    packer.pack("x" * 300)  # type: ignore[no-untyped-call]  # 256+ bytes: a 16-bit size
    assert stream.getvalue()[:3] == b"\xd1\x01\x2c"
