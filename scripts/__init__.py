"""Developer and CI tooling, not part of the installed product: the bash entry points (install, run, test,
asterisk-sandbox) and the Python they share with the tests and benchmarks — the Asterisk 22 sandbox chroot
(``sandbox``), a throw-away PostgreSQL server (``pgserver``), free loopback ports (``ports``).

May import the product packages; nothing in the product imports this.
"""
