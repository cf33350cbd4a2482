"""`python -m pipeline.mixture`: the command line of `pipeline.mixture.cli`."""
from pipeline.mixture.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
