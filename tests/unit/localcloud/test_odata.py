"""The Retail Prices $filter subset."""

from __future__ import annotations

import pytest

from localcloud.arm import odata

ITEM = {"serviceName": "Virtual Machines", "armRegionName": "eastus", "meterName": "D2s v5 Spot", "retailPrice": 0.02}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ("serviceName eq 'Virtual Machines'", True),
        ("serviceName eq 'virtual machines'", True),  # case-insensitive before 2023-01-01-preview
        ("armRegionName eq 'eastus' and contains(meterName, 'Spot')", True),
        ("armRegionName eq 'westus' or endswith(meterName, 'Spot')", True),
        ("not (armRegionName eq 'eastus')", False),
        ("retailPrice lt 0.01", False),
        ("retailPrice ge 0.02 and startswith(meterName, 'D2')", True),
        ("meterName eq 'O''Brien'", False),
    ],
)
def test_filters(flt: str, expected: bool) -> None:
    assert odata.parse(flt)(ITEM) is expected


def test_case_sensitive_mode() -> None:
    assert odata.parse("serviceName eq 'virtual machines'", case_sensitive=True)(ITEM) is False


@pytest.mark.parametrize(
    "flt", ["armRegionName", "armRegionName eq", "contains(meterName)", "(a eq 'b'", "a foo 'b'", "a eq 'b' $"]
)
def test_malformed_filters_raise(flt: str) -> None:
    with pytest.raises(odata.ODataError):
        odata.parse(flt)
