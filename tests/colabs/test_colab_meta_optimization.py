"""colabs/meta_optimization.ipynb runs top to bottom at its small size and its checks pass."""


def test_meta_optimization(run_notebook):
    notebook = run_notebook("meta_optimization")
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "is within" in text and "learned sigma" in text
