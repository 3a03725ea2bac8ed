"""Fuzzing the MJCF parser (issue 19, "Bad input") with hypothesis: the
shipped gymnasium XML files with attributes removed, set out of range or
given values of the wrong type. Every case either loads (with strict=False)
into a spec whose system is finite, or raises `SpecError` with a one-line
message naming the element, the attribute (where one is at fault) and the
line; never another exception from inside the parser."""

import math
import pathlib
import warnings
import xml.etree.ElementTree as ET

import gymnasium
import jax
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

from gambol.physics import rigid  # noqa: E402
from gambol.physics.rigid.mjcf import MjcfWarning, import_mjcf  # noqa: E402
from gambol.physics.rigid.spec import SpecError  # noqa: E402

ASSETS = pathlib.Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets"
FILES = ("hopper.xml", "ant.xml", "half_cheetah.xml", "inverted_pendulum.xml", "reacher.xml", "swimmer.xml")
VALUES = ("", "abc", "nan", "inf", "-inf", "-1", "0", "1e308", "-1e308", "1e-300", "1 2", "0 0 0", "0 0 0 0",
          "-5 -5 -5", "1 0 0 0 0 0", "true", "false", "auto", "radian", "none", "1.5.2", "2 2 2 2 2 2 2 2")
TEXT = {name: (ASSETS / name).read_text() for name in FILES}


@st.composite
def mutated(draw):
    """(file name, mutated XML text, the mutations)."""
    name = draw(st.sampled_from(FILES))
    root = ET.fromstring(TEXT[name])
    changes = []
    for _ in range(draw(st.integers(1, 3))):
        el = draw(st.sampled_from([el for el in root.iter() if el.attrib]))
        attr = draw(st.sampled_from(sorted(el.attrib)))
        kind = draw(st.sampled_from(("remove", "value", "number")))
        if kind == "remove":
            el.attrib.pop(attr, None)
        elif kind == "value":
            el.set(attr, draw(st.sampled_from(VALUES)))
        else:
            n = max(1, len(el.get(attr, "0").split()))
            numbers = draw(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=n, max_size=n))
            el.set(attr, " ".join(repr(x) for x in numbers))
        changes.append((el.tag, attr, kind, el.get(attr)))
    return name, ET.tostring(root, encoding="unicode"), changes


def _system_is_finite(spec):
    sys = rigid.build_system(spec)
    for leaf in jax.tree.leaves(sys):
        assert np.all(np.isfinite(np.asarray(leaf))), leaf
    assert np.all(np.asarray(sys.mass) > 0) and np.all(np.asarray(sys.inertia) > 0)


@settings(max_examples=60, deadline=None, database=None, derandomize=True)   # reproducible; no .hypothesis folder
@given(mutated())
def test_mutated_files_load_or_raise_one_clear_line(case):
    name, text, changes = case
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MjcfWarning)
            result = import_mjcf(text, strict=False)
    except SpecError as e:
        message = str(e)
        assert "\n" not in message, (changes, message)
        assert " line " in message, (changes, message)
        return
    _system_is_finite(result.spec)
    assert all(math.isfinite(x) for p in result.rest_position.values() for x in p)


@pytest.mark.parametrize("attr", ["armature", "damping", "stiffness", "frictionloss"])
def test_negative_joint_constants_name_the_attribute(attr):
    # found by the fuzzer: armature="-1" reached a square root of a negative stiffness
    default = '<joint armature="1" damping="1" limited="true"/>'              # hopper.xml's default class
    bad = (default.replace(f'{attr}="1"', f'{attr}="-1"') if f'{attr}="1"' in default
           else default.replace("/>", f' {attr}="-1"/>'))
    text = TEXT["hopper.xml"].replace(default, bad)
    assert text != TEXT["hopper.xml"]
    with pytest.raises(SpecError, match=rf"attribute '{attr}': expected a number >= 0, got -1"):
        import_mjcf(text, strict=False)
