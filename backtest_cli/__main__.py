from backtest_cli.app import main

main()
