"""What the question-answering engine returns to its callers (the IVR flow, `hotline ask`, the admin panel)."""

from __future__ import annotations

from dataclasses import dataclass, field

ASPECTS = (
    "materials", "location", "hours", "time_limit", "fee", "process",
    "conditions", "online", "express", "booking", "weekend", "tolerance", "sample_form", "door_to_door",
    "general", "none",
)


@dataclass(frozen=True)
class Alternative:
    item_code: str
    item_name: str
    score: float


@dataclass(frozen=True)
class Answer:
    """One answer. ``abstained`` means: no item was chosen, offer clarification or an agent."""

    item_code: str | None
    item_name: str | None
    department: str | None
    aspect: str
    answer: str
    confidence: float
    abstained: bool
    alternatives: list[Alternative] = field(default_factory=list)
    clarify: bool = False  # True when the answer asks the caller to choose between close items

    def to_json_dict(self) -> dict:
        return {
            "item_code": self.item_code,
            "item_name": self.item_name,
            "department": self.department,
            "aspect": self.aspect,
            "answer": self.answer,
            "confidence": round(self.confidence, 4),
            "abstained": self.abstained,
            "alternatives": [
                {"item_code": a.item_code, "item_name": a.item_name, "score": round(a.score, 4)}
                for a in self.alternatives
            ],
        }
