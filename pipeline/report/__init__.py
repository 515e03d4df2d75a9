"""Reports: plots, model card and the self-contained HTML report."""
