"""gambol.training (see ../shared/design.md); filled in by later issues."""
