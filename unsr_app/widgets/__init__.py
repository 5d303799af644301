"""One widget per module; the main window wires them."""
