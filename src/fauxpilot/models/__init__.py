"""Model catalog, on-disk store and pulling of model files."""
