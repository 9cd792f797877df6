from productops.cli import main

main()
