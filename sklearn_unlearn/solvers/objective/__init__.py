"""The training objective of a linear model: its design (features and
intercept), its value, gradient and Hessian blocks, and the matrix-free
products with them."""
