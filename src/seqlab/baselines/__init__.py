"""Reference models with fit/predict: the baselines every run is judged against."""
