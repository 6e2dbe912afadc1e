"""Plan: every write, task and message a run intends, built from the evaluation and diffed
against the CRM (`build`), and carried out in batches (`apply`)."""

from connector.plan.model import ActionPlan, FieldTarget, Plan, SuppressedTask

__all__ = ["ActionPlan", "FieldTarget", "Plan", "SuppressedTask"]
