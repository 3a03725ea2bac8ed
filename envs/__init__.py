"""gambol.envs (see ../shared/design.md); filled in by later issues."""
