from kawamori_app.cli import main

main()
