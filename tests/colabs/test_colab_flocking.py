"""colabs/flocking.ipynb runs top to bottom at its small size and its checks pass."""


def test_flocking(run_notebook):
    outputs, _ = run_notebook("flocking")
    # the animation is shown inline as a GIF
    assert any("image/gif" in o.get("data", {}) for o in outputs if o.get("output_type") == "display_data")
