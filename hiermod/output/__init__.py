"""Writers of a fit: the JSON report, the HTML / markdown report and the model's equations."""
