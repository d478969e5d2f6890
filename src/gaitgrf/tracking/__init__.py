"""MLflow tracking: the client wrapper (`client`), gaitgrf's naming rules (`conventions`, importable
without MLflow) and artifact locations that move with the project (`location`)."""
