from __future__ import annotations

import pytest

from curation.projects.questions import question_add

HAZARDS = [
    {"name": "violent_crimes", "description": "Enables or endorses violence", "subcategories": ["terrorism"]},
    {"name": "self_harm"},
    "privacy",
]


def three_questions(project, user):
    """A multi-label question about each response, a required rating and an optional text, on every kind."""
    return [
        question_add(
            project=project,
            user=user,
            spec={"key": "hazard", "type": "multi_label", "label": "Hazards", "target": "response", "options": HAZARDS},
        ),
        question_add(
            project=project,
            user=user,
            spec={
                "key": "helpful",
                "type": "rating",
                "label": "Helpful?",
                "scale": 5,
                "required": True,
                "low_label": "not at all",
                "high_label": "very",
            },
        ),
        question_add(project=project, user=user, spec={"key": "note", "type": "text", "label": "Note"}),
    ]


@pytest.fixture
def questions(project, personas):
    return three_questions(project, personas["owner"])
