"""What every stage shares: typed params, errors, the data contract, the sensor model, signal
filters and the sample tensor format."""
