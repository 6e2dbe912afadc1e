"""Churn risk with reasons: a model learnt from the history store's renewals, won and lost.

Above the engine (it reads the measures the health model produces) and beside the CRM
adapters: the run trains it from the store once, the engine adds its columns before rules
fire, and the report shows its backtest. `churn_risk` is the whole of it in one call.
"""

from connector.risk.churn import RiskOptions, RiskResult, churn_risk, score, train

__all__ = ["RiskOptions", "RiskResult", "churn_risk", "score", "train"]
