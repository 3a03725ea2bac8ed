"""colabs/basics.ipynb runs top to bottom at its small size and its checks pass."""


def test_basics(run_notebook):
    notebook = run_notebook("basics")
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "identical to brute force" in text and "NVE: total energy" in text
