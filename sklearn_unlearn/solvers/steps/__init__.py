"""The update steps of a request: its rows in the form the cache works with,
how it changes the cached matrices, its phases (gradients, changed matrices,
the step), the refined iterations, the choice of ``method="auto"``, and the
changes of every row's features (an affine map, or columns forgotten in
stages on the cubic model)."""
