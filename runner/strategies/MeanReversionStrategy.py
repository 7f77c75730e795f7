"""Mean reversion: buy a close below the lower Bollinger band while RSI is oversold, sell at the middle band.

In futures mode it also shorts the mirror image (close above the upper band, RSI overbought).
Indicators are computed with pandas so the strategy needs nothing beyond freqtrade itself.
"""

from freqtrade.strategy import IStrategy
from pandas import DataFrame


class MeanReversionStrategy(IStrategy):
    INTERFACE_VERSION = 3

    timeframe = "5m"
    minimal_roi = {"0": 0.03}
    stoploss = -0.04
    startup_candle_count = 30

    band_period = 20
    band_width = 2.0
    rsi_period = 14
    rsi_oversold = 35
    rsi_overbought = 65

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        # freqtrade refuses a shorting strategy in spot markets, so shorting follows the trading mode.
        self.can_short = config.get("trading_mode") == "futures"

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        close = dataframe["close"]
        middle = close.rolling(self.band_period).mean()
        spread = close.rolling(self.band_period).std() * self.band_width
        dataframe["bb_middle"] = middle
        dataframe["bb_lower"] = middle - spread
        dataframe["bb_upper"] = middle + spread
        # Wilder's RSI: exponential averages of gains and losses with alpha = 1 / period.
        change = close.diff()
        gain = change.clip(lower=0).ewm(alpha=1 / self.rsi_period, adjust=False).mean()
        loss = (-change.clip(upper=0)).ewm(alpha=1 / self.rsi_period, adjust=False).mean()
        dataframe["rsi"] = 100 - 100 / (1 + gain / loss)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        trading = dataframe["volume"] > 0
        oversold = (dataframe["close"] < dataframe["bb_lower"]) & (dataframe["rsi"] < self.rsi_oversold)
        overbought = (dataframe["close"] > dataframe["bb_upper"]) & (dataframe["rsi"] > self.rsi_overbought)
        dataframe.loc[oversold & trading, "enter_long"] = 1
        dataframe.loc[overbought & trading, "enter_short"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["close"] > dataframe["bb_middle"], "exit_long"] = 1
        dataframe.loc[dataframe["close"] < dataframe["bb_middle"], "exit_short"] = 1
        return dataframe
