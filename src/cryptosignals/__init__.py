"""cryptosignals: trading signals for cryptocurrencies from CoinGecko ticks.

The pure core (indicators, windows, rules, engine) is numbers in, numbers out; the AWS handlers,
the CLI, the backtester and the dashboard are thin shells around it.
"""

__version__ = "0.1.0"
