"""Runs a notebook of colabs/ top to bottom with its SMALL switch on (GAMBOL_SMALL=1).

Each notebook has its own test file (tests/colabs/test_colab_<name>.py), so `pytest -n 2 --dist
loadfile` runs two notebooks at once (the `test_colab_` prefix keeps basenames unique across
tests/, which pytest needs without package `__init__` files). A failing cell fails the test
with the cell's traceback.
"""
import os
import pathlib

import pytest

COLABS = pathlib.Path(__file__).resolve().parents[2] / "colabs"


@pytest.fixture
def run_notebook(tmp_path, monkeypatch):
    """run_notebook(name) -> (outputs, printed text); runs in a fresh kernel inside tmp_path."""
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")

    def run(name):
        """-> (outputs of the code cells, everything they printed to stdout as one string)."""
        path = COLABS / f"{name}.ipynb"
        notebook = nbformat.read(path, as_version=4)
        monkeypatch.setenv("GAMBOL_SMALL", "1")
        monkeypatch.setenv("MPLBACKEND", "Agg")
        client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                         resources={"metadata": {"path": str(tmp_path)}})
        client.execute()                     # raises on the first failing cell
        outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
        assert not [o for o in outputs if o.get("output_type") == "error"]
        text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
        return outputs, text

    return run

