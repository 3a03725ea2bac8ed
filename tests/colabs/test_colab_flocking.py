"""colabs/flocking.ipynb runs top to bottom at its small size and its checks pass."""


def test_flocking(run_notebook):
    notebook = run_notebook("flocking")
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # the animation is shown inline as a GIF
    assert any("image/gif" in o.get("data", {}) for o in outputs if o.get("output_type") == "display_data")
