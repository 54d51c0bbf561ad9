"""TFDS builders of diffdub_jax. Importing a builder module registers it with TFDS."""
