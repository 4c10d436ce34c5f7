from rkt.cli import main

main()
