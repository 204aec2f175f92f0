"""None"""

__all__ = []
