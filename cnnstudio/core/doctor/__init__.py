"""The data doctor: wrong labels, duplicates and leakage, outliers (diagnose.py), and the fixes a person
accepts for them (fixes.py)."""
