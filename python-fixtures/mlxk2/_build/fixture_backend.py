"""PEP 517 backend for the fixture source trees: packs the tree with make_wheels.py."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.dirname(HERE)
sys.path.insert(0, os.path.dirname(TREE))

import make_wheels  # noqa: E402


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return os.path.basename(make_wheels.build(wheel_directory, TREE))
