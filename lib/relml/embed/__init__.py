"""Embeddings: dtSNE and density / neighbourhood metrics."""
