"""The README's tour runs as written."""

import pathlib
import re

import numpy as np


def test_readme_python_blocks_run():
    text = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python examples"
    scope: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), scope)
    # the tour thermostats to kT = 1 and differentiates with respect to sigma
    assert 0.5 < float(scope["quantity"].temperature(momentum=scope["state"].momentum,
                                                     mass=scope["state"].mass)) < 1.6
    assert np.isfinite(float(scope["dE_dsigma"]))
    assert scope["force"].shape == (1000, 3)
