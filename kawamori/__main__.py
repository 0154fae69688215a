from kawamori.cli import main

main()
