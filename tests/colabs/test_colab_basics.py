"""colabs/basics.ipynb runs top to bottom at its small size and its checks pass."""


def test_basics(run_notebook):
    _, text = run_notebook("basics")
    assert "identical to brute force" in text and "NVE: total energy" in text
