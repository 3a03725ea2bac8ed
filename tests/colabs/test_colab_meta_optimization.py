"""colabs/meta_optimization.ipynb runs top to bottom at its small size and its checks pass."""


def test_meta_optimization(run_notebook):
    _, text = run_notebook("meta_optimization")
    assert "is within" in text and "learned sigma" in text
