"""prognos training side: data loading, labeling, windowing, training, evaluation, plots."""
