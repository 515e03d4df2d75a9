"""Remaining-useful-life training: fit, cross-validation, search, ensemble, final model, evaluation."""
