"""Mutation testing of minicnn's core modules with mutmut: ``python -m tests.mutation MODULE``
(see docs/testing.md)."""
