"""Bundled example scenarios that ``tether init`` and ``tether demo`` start from."""
