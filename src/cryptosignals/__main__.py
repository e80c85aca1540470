from cryptosignals.cli import main

main()
