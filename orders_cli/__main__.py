from orders_cli.cli.app import main

main()
