"""Figures from the event log: KPIs and their catalogue, tables by period, costs, run warnings.
"""
