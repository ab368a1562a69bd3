"""Errors of the NLU package, in the intents error hierarchy."""

from __future__ import annotations

from intents.errors import IntentsError


class TrainingDataError(IntentsError):
    """A training data file is missing or malformed; the message names the file and line."""

    code = "nlu_training_data_invalid"
