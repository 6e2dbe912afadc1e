"""Report: the portfolio's KPIs from the history store, as an HTML page and data files.

Reads only the store, never the CRM: a report can be made at any time, as often as wanted.
"""
