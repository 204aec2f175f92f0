"""One ``with`` protocol for the objects that hold connections or threads until closed."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self


class Closing(ABC):
    """``with obj: ...`` closes ``obj`` at the end of the block, whatever happened in it."""

    @abstractmethod
    def close(self) -> None:
        """Release what the object holds; closing twice does nothing."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
