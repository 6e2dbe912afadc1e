"""Product-usage sources: where the metrics the health model and rules read come from."""

from connector.usage.http import HttpUsageSource, UsageBatch

__all__ = ["HttpUsageSource", "UsageBatch"]
