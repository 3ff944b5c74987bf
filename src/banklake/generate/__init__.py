"""Synthetic banking data in the Bronze layout."""

from banklake.generate.generator import GeneratedFiles, GeneratorSpec, generate

__all__ = ["GeneratedFiles", "GeneratorSpec", "generate"]
