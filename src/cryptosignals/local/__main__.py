"""`python -m cryptosignals.local up ...`: the same as `cryptosignals local up`."""

from cryptosignals.local.command import main

main()
