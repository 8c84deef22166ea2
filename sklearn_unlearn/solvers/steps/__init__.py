"""The update steps of a request: its rows in the form the cache works with,
how it changes the cached matrices, its phases (gradients, changed matrices,
the step), the refined iterations and the choice of ``method="auto"``."""
