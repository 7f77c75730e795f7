"""CDK side of the backtest pipeline: typed settings, one stack, one construct per capability."""
