"""colabs/multi_agent.ipynb runs top to bottom at its SMALL sizes, its assert cells included."""


def test_multi_agent(run_notebook):
    run_notebook("multi_agent")
