"""What every learned op's model config shares: a plain dataclass that goes to and from the
JSON model card, and the U-Net depth check."""

from __future__ import annotations

from dataclasses import asdict


class ModelConfig:
    """Mixin for ``@dataclass`` model configs (fields with defaults, written into the card)."""

    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict):
        """The config from a card's ``config``; keys this version does not know are ignored, so
        cards written by other versions still load."""
        names = set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
        return cls(**{k: v for k, v in d.items() if k in names})


def check_levels(channels) -> None:
    """A U-Net needs >= 3 levels of >= 4 channels (finest first)."""
    if len(channels) < 3 or min(channels) < 4:
        raise ValueError(f"need >= 3 levels of >= 4 channels, got {list(channels)}")
