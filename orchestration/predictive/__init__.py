"""Predictive customer models (buy-till-you-die) fitted on the warehouse's purchase history."""
