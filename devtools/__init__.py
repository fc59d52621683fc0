"""Helpers for the tests and benchmarks, outside the product packages (not installed with journeybot).

Importable from the project root: pytest puts it on sys.path (pyproject `pythonpath`), and the
scripts in bench/ insert it themselves.
"""
