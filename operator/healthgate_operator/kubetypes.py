"""Types shared by the operator's modules."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
"""A Kubernetes object, or a part of one, as decoded JSON."""
