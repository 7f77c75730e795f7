"""Trend following: enter when a fast EMA crosses a slow EMA in the direction of a long trend EMA.

Long on an upward cross above the trend line; in futures mode also short on a downward cross
below it. Exits on the opposite cross; stoploss and ROI are the defaults below (a request's
stoploss overrides the strategy's).
"""

from freqtrade.strategy import IStrategy
from pandas import DataFrame


class TrendFollowingStrategy(IStrategy):
    INTERFACE_VERSION = 3

    timeframe = "1h"
    minimal_roi = {"0": 0.10}
    stoploss = -0.05
    startup_candle_count = 50

    fast_period = 8
    slow_period = 21
    trend_period = 50

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        # freqtrade refuses a shorting strategy in spot markets, so shorting follows the trading mode.
        self.can_short = config.get("trading_mode") == "futures"

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["ema_fast"] = dataframe["close"].ewm(span=self.fast_period, adjust=False).mean()
        dataframe["ema_slow"] = dataframe["close"].ewm(span=self.slow_period, adjust=False).mean()
        dataframe["ema_trend"] = dataframe["close"].ewm(span=self.trend_period, adjust=False).mean()
        fast_above = dataframe["ema_fast"] > dataframe["ema_slow"]
        dataframe["cross_up"] = fast_above & ~fast_above.shift(1, fill_value=False)
        dataframe["cross_down"] = ~fast_above & fast_above.shift(1, fill_value=False)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        uptrend = dataframe["close"] > dataframe["ema_trend"]
        dataframe.loc[dataframe["cross_up"] & uptrend & (dataframe["volume"] > 0), "enter_long"] = 1
        dataframe.loc[dataframe["cross_down"] & ~uptrend & (dataframe["volume"] > 0), "enter_short"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["cross_down"], "exit_long"] = 1
        dataframe.loc[dataframe["cross_up"], "exit_short"] = 1
        return dataframe
