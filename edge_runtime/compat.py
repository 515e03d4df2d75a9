"""Differences between the Pythons prognos-edge supports (3.10 to 3.13), in one place.

`tomllib` is in the standard library from 3.11; on 3.10 the same parser is the `tomli` package
(a prognos-edge dependency only there, see edge_runtime/pyproject.toml).
"""
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

__all__ = ["tomllib"]
