"""Pure evaluation: the same account table in, the same scores and firings out."""
