"""diffdub_jax: DiffDub (arXiv 2311.01811) person-generic visual dubbing in JAX/Flax."""

__version__ = "0.1.0"
