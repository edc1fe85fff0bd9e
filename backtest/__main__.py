from backtest.cli.app import main

main()
