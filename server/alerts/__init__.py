"""Alerts: rules from `agents.yaml` evaluated in the server, notices to a webhook, the API."""

from server.alerts._evaluator import AlertEvaluator, open_evaluator
from server.alerts._routes import ALERT_ROUTES

__all__ = ["ALERT_ROUTES", "AlertEvaluator", "open_evaluator"]
