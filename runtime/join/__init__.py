"""Joining feedback (true labels that arrive later) to earlier predictions by event id."""

from helicon.runtime.join.feedback_join import FeedbackJoin, JoinedExample, JoinStats

__all__ = ["FeedbackJoin", "JoinedExample", "JoinStats"]
